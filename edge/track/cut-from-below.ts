import type { Box } from "../domain/types.ts";

/**
 * A cut shorter than this share of the person's height is not acted on: it is within a box's
 * frame-to-frame jitter, and no smaller than the line counter's hysteresis (0.15 heights), so it
 * cannot make a count on its own.
 */
const MIN_CUT = 0.15;
/** Recent whole boxes the person's height and width are taken from (the median: one odd box is not the reference). */
const HISTORY = 5;
/**
 * Whole heights kept for feet hidden by someone nearer, who may stay hidden for seconds: the
 * estimate takes the lower of the recent (`HISTORY`) and this longer median, so that a few boxes
 * that took in the nearer person too, just before they hid the feet, do not become the height put
 * under the top (PicoDet on PETS: six frames of 235 px against 209 before, then hidden).
 */
const LONG_HISTORY = 15;
/**
 * Standing still: the box's top, centre and width held within this share of the height (a standing
 * person's box moves less; a walker moves most of a height per second)...
 */
const STILL = 0.05;
/** ...for this long, measured in time so that it means the same at 7 and at 30 fps. */
const STAND_MS = 500;
/**
 * A top edge that moved by more than this share of the height from one sighting to the next is not
 * the same person's (the track took over someone else's box) or not their head (two people boxed as
 * one): the recent whole boxes say nothing of the extent under it. Walking moves it a few per cent.
 */
const TOP_JUMP = 0.25;
/**
 * A box hidden from below keeps about its width (shoulders are a person's widest part): one
 * narrower or wider than this share of the recent whole boxes' is another extent (a box of two
 * people that came apart, someone else's box), which they say nothing of. Turning changes a
 * walker's width by up to about half.
 */
const SAME_WIDTH = 0.6;

interface PersonShape {
  /** Heights and widths of the last whole boxes (a ring). */
  readonly heights: Float64Array;
  /** Heights of the last `LONG_HISTORY` whole boxes (a ring). */
  readonly longHeights: Float64Array;
  longCount: number;
  longNext: number;
  readonly widths: Float64Array;
  count: number;
  next: number;
  /** Top of the last seen box, whole or not. */
  seenTop: number;
  /** Top and bottom of the last whole box. */
  top: number;
  bottom: number;
  /** The box is cut from below now; `height` is the whole height it is counted with. */
  cut: boolean;
  height: number;
  /** Top and (visible) bottom of the box when the cut began. */
  cutTop: number;
  cutBottom: number;
  /** Standing still: where the top, centre and width were when it began, and the feet then. */
  standTop: number;
  standX: number;
  standWidth: number;
  standFeet: number;
  standSinceMs: number;
}

/**
 * Keeps a person's feet where they are when their box is cut from below: by an occluder (a parked
 * car, a bench, another person) or by the picture's edge, the detector boxes the visible part, the
 * bottom edge climbs while the person stands still, and a bottom-centre anchor would "cross" a line
 * near them. A box counts as cut when, against the person's recent whole boxes,
 * - it lost at least `MIN_CUT` of its height,
 * - the loss came suddenly and from below: since the last whole box the bottom rose by at least
 *   half `MIN_CUT` of the height and the top moved less than half as much, and
 * - its width did not shrink with it: moving away from the camera shrinks a box's height and width
 *   alike (perspective), which is why a low camera's receding walker, whose head also holds still
 *   while the feet climb, is not taken for a cut.
 * While cut, the box keeps its top and the person's last whole height; it is whole again once its
 * height is back within half the threshold, its width shrinks with it (perspective), or its bottom
 * moves with its top (an occluder's or the picture's edge holds still; a box that moves as a whole
 * is a whole box, e.g. two people's merged box that came apart).
 * A cut that builds up slowly escapes those rules (the recent boxes follow it down); for someone
 * standing still — top, centre and width held for half a second — the feet stay where they stood
 * when the bottom climbs by `MIN_CUT` or more, however slowly.
 */
export class CutFromBelow {
  private readonly shapes = new Map<number, PersonShape>();
  private readonly sorted = new Float64Array(LONG_HISTORY);

  /** Whether the last box `restore` returned is an estimate of the whole extent rather than the tracker's box. */
  estimated = false;

  /**
   * The box to count a person with: the tracker's box, or its whole height when it is cut from below.
   * `hiddenBelow`: the box's bottom lies where something nearer covers the person (another road
   * user's box, the picture's edge), so the box may end above the feet whatever its history says.
   */
  restore(trackId: number, box: Box, tsMs: number, seen: boolean, hiddenBelow = false): Box {
    this.estimated = false;
    let s = this.shapes.get(trackId);
    if (!s) {
      s = {
        heights: new Float64Array(HISTORY),
        longHeights: new Float64Array(LONG_HISTORY),
        longCount: 0,
        longNext: 0,
        widths: new Float64Array(HISTORY),
        count: 0,
        next: 0,
        seenTop: Number.NaN,
        top: 0,
        bottom: 0,
        cut: false,
        height: 0,
        cutTop: 0,
        cutBottom: 0,
        standTop: 0,
        standX: 0,
        standWidth: 0,
        standFeet: 0,
        standSinceMs: Number.NaN,
      };
      this.shapes.set(trackId, s);
    }
    const topJumped = seen && Math.abs(box.y1 - s.seenTop) > TOP_JUMP * (box.y2 - box.y1);
    if (seen) s.seenTop = box.y1;
    if (seen && hiddenBelow && s.count > 0) return this.belowHidden(s, box, topJumped);
    // A prediction is handed on as the tracker made it (no detection says it is cut), and is no
    // evidence either way: the track stays cut or whole as it was.
    if (seen) s.cut = this.isCut(s, box);
    // Someone standing still keeps the feet they stood on, however slowly a cut comes: a cut that
    // builds up over many frames is followed down by the recent boxes, not by a still top.
    const feet = seen ? this.standingFeet(s, box, tsMs) : Number.NaN;
    if (!s.cut && feet - box.y2 >= MIN_CUT * (box.y2 - box.y1)) {
      this.estimated = true;
      return { x1: box.x1, y1: box.y1, x2: box.x2, y2: feet };
    }
    if (!seen || !s.cut) {
      if (seen) this.remember(s, box);
      return box;
    }
    this.estimated = true;
    // a new box, as the tracker's are: a consumer may hold it past the next frame (rare: only while cut)
    return { x1: box.x1, y1: box.y1, x2: box.x2, y2: box.y1 + s.height };
  }

  /**
   * The bottom is covered by something nearer: a box shorter than the recent whole ones by more than
   * their jitter is counted with their height below its visible top (the top is what stays visible
   * of a person hidden from below), and only a box as tall as them becomes a reference (a cut that
   * grows as the occluder slides in is not followed down). A box whose top jumped or whose width is
   * far from theirs is another extent: they are dropped.
   */
  private belowHidden(s: PersonShape, box: Box, topJumped: boolean): Box {
    s.cut = false;
    s.standSinceMs = Number.NaN;
    const width = this.median(s.widths, s.count);
    const widthKept = (box.x2 - box.x1) / width;
    if (topJumped || widthKept < SAME_WIDTH || widthKept > 1 / SAME_WIDTH) {
      // not the extent the recent whole boxes measured: they are no reference for this one
      s.count = 0;
      s.next = 0;
      s.longCount = 0;
      s.longNext = 0;
      return box;
    }
    const height = Math.min(this.median(s.heights, s.count), this.median(s.longHeights, s.longCount));
    if (box.y2 - box.y1 >= height * (1 - MIN_CUT / 2)) {
      // As tall as the reference, the box is whole and is evidence (a merged box's height does not
      // outlast it); a little shorter, it may be a cut beginning as the occluder slides in, which
      // must not pull the reference down.
      if (box.y2 - box.y1 >= height) this.remember(s, box);
      return box;
    }
    this.estimated = true;
    return { x1: box.x1, y1: box.y1, x2: box.x2, y2: box.y1 + height };
  }

  forget(trackId: number): void {
    this.shapes.delete(trackId);
  }

  get size(): number {
    return this.shapes.size;
  }

  private isCut(s: PersonShape, box: Box): boolean {
    if (s.count === 0) return false;
    if (!s.cut) {
      // the common case, cheaply: not shorter than any recent whole box by the threshold
      let tallest = 0;
      for (let i = 0; i < s.count; i++) tallest = Math.max(tallest, s.heights[i] as number);
      if (box.y2 - box.y1 >= tallest * (1 - MIN_CUT)) return false;
    }
    const height = this.median(s.heights, s.count);
    const width = this.median(s.widths, s.count);
    const heightKept = (box.y2 - box.y1) / height;
    const widthKept = (box.x2 - box.x1) / width;
    if (s.cut) {
      // Stays cut while short for its width and while its bottom stays where the cut put it: the
      // edge of a parked car or of the picture holds still while the person may move behind it. A
      // bottom that moves with the top is a whole box's (the cut was two people's merged box
      // coming apart, say).
      const threshold = MIN_CUT / 2;
      const rise = s.cutBottom - box.y2;
      if (rise > 0 && Math.abs(box.y1 - s.cutTop) < rise / 2) {
        // the cut deepens (the box settling on the occluder's edge): its bottom is measured from here
        s.cutTop = box.y1;
        s.cutBottom = box.y2;
      }
      const bottomMoved = Math.abs(box.y2 - s.cutBottom);
      return (
        heightKept < 1 - threshold &&
        heightKept < widthKept * (1 - threshold) &&
        bottomMoved <= Math.max(threshold * height, Math.abs(box.y1 - s.cutTop) / 2)
      );
    }
    // A new cut comes from below: the bottom rose and the top did not follow (sitting down lowers the top).
    const rise = s.bottom - box.y2;
    const cut =
      heightKept < 1 - MIN_CUT &&
      heightKept < widthKept * (1 - MIN_CUT) &&
      rise >= (MIN_CUT / 2) * height &&
      Math.abs(box.y1 - s.top) < rise / 2;
    if (cut) {
      s.height = height;
      s.cutTop = box.y1;
      s.cutBottom = box.y2;
    }
    return cut;
  }

  /**
   * Where the feet of someone standing still are: the bottom of their box when they came to stand
   * (top, centre and width held for `STAND_MS`); NaN while they move.
   */
  private standingFeet(s: PersonShape, box: Box, tsMs: number): number {
    const h = Math.max(1, box.y2 - box.y1);
    // the tolerance scales with the whole height, not with a box that a cut has shortened
    const tol =
      STILL * Math.max(h, s.count > 0 ? (s.heights[(s.next - 1 + HISTORY) % HISTORY] as number) : h);
    const x = (box.x1 + box.x2) / 2;
    const w = box.x2 - box.x1;
    const still =
      !Number.isNaN(s.standSinceMs) &&
      Math.abs(box.y1 - s.standTop) <= tol &&
      Math.abs(x - s.standX) <= tol &&
      Math.abs(w - s.standWidth) <= tol;
    if (!still) {
      s.standTop = box.y1;
      s.standX = x;
      s.standWidth = w;
      s.standFeet = box.y2;
      s.standSinceMs = tsMs;
      return Number.NaN;
    }
    return tsMs - s.standSinceMs >= STAND_MS ? s.standFeet : Number.NaN;
  }

  private remember(s: PersonShape, box: Box): void {
    s.heights[s.next] = box.y2 - box.y1;
    this.rememberLong(s, box);
    s.widths[s.next] = box.x2 - box.x1;
    s.next = (s.next + 1) % HISTORY;
    if (s.count < HISTORY) s.count++;
    s.top = box.y1;
    s.bottom = box.y2;
  }

  private rememberLong(s: PersonShape, box: Box): void {
    s.longHeights[s.longNext] = box.y2 - box.y1;
    s.longNext = (s.longNext + 1) % LONG_HISTORY;
    if (s.longCount < LONG_HISTORY) s.longCount++;
  }

  private median(values: Float64Array, count: number): number {
    const sorted = this.sorted.subarray(0, count);
    sorted.set(values.subarray(0, count));
    sorted.sort();
    return sorted[count >> 1] as number;
  }
}
