/**
 * Scene health: can the counter see? Every frame is measured on a small grid of luminance samples
 * and compared with the scene's own normal, learnt while the view was healthy. Five states, each
 * raised after its condition held for `onsetSec` and cleared after it was gone for `clearSec`:
 *
 * - `dark`: mean luminance below an absolute floor or far below the scene's normal (night without
 *   lights, a black cover);
 * - `overexposed`: much of the picture clipped white (sun in the lens, a blown-out exposure);
 * - `obscured`: the fine texture of a large part of the view is gone, brightness allowed for
 *   (a covered, fogged, dirty or defocused lens; something parked in front of it);
 * - `frozen`: no sample changed for a second and more (a stuck stream repeating one picture);
 * - `moved`: the coarse layout of edge orientations no longer matches the reference (the camera
 *   was knocked or turned).
 *
 * Nothing here keeps a picture: the measures are sums, shares and, for `moved`, a histogram of edge
 * orientations per cell of a 8 x 6 grid, from which no image can be rebuilt (docs/privacy.md).
 * Every buffer is allocated once; a frame costs a few thousand pixel reads.
 */

export const SCENE_STATES = ["dark", "overexposed", "obscured", "frozen", "moved"] as const;
export type SceneState = (typeof SCENE_STATES)[number];

/** One bit per state, in the order of SCENE_STATES; 0: the counter sees. */
export type SceneFlags = number;

export const SCENE_FLAG: Readonly<Record<SceneState, number>> = {
  dark: 1,
  overexposed: 2,
  obscured: 4,
  frozen: 8,
  moved: 16,
};

export function sceneStates(flags: SceneFlags): SceneState[] {
  return SCENE_STATES.filter((s) => (flags & SCENE_FLAG[s]) !== 0);
}

export interface SceneCheckOptions {
  /** A condition must hold this long before its state is raised (a passing bus, a cloud). */
  readonly onsetSec: number;
  /** ... and be gone this long before the state is cleared. */
  readonly clearSec: number;
  /** The scene's normal is learnt over its first seconds (and again after a change of view). */
  readonly learnSec: number;
  /** Afterwards the normal follows slow changes (seasons, shadows) with this time constant. */
  readonly adaptSec: number;
  /** Mean luminance (0-255) below which the view is dark, whatever its normal. */
  readonly darkLuma: number;
  /** ... or below this share of the scene's normal mean luminance. */
  readonly darkShare: number;
  /** Share of clipped-white samples above the scene's normal share that is overexposed. */
  readonly overexposedShare: number;
  /** A cell has lost its texture below this share of its normal (brightness allowed for). */
  readonly textureLostShare: number;
  /** Share of the textured cells that must have lost their texture for `obscured`. */
  readonly obscuredShare: number;
  /** No sample changed by more than this (mean absolute difference, 0-255) between two frames. */
  readonly frozenDiff: number;
  /** The edge layout differs from the reference by more than this (0-1) for `moved`... */
  readonly movedChange: number;
  /** ... and by more than this many times its typical change in the healthy view (people, traffic). */
  readonly movedFactor: number;
}

export const DEFAULT_SCENE_OPTIONS: SceneCheckOptions = {
  onsetSec: 5,
  clearSec: 5,
  learnSec: 5,
  adaptSec: 1800,
  darkLuma: 30,
  darkShare: 0.3,
  overexposedShare: 0.4,
  textureLostShare: 0.3,
  obscuredShare: 0.4,
  frozenDiff: 0.1,
  movedChange: 0.4,
  movedFactor: 2.5,
};

/** What a scene check learnt about its view (`SceneCheck.normal()`), to keep across restarts. */
export interface SceneNormal {
  readonly version: 1;
  /** The picture size it was learnt on (another size is another view). */
  readonly width: number;
  readonly height: number;
  readonly mean: number;
  readonly clipped: number;
  readonly change: number;
  /** Fine texture per cell of the 8 x 6 grid. */
  readonly texture: readonly number[];
  /** Edge strength per cell of the 16 x 12 grid and direction (8). */
  readonly reference: readonly number[];
}

/** What the last frame measured (for logs, the bench and tests; no pixel in it). */
export interface SceneMeasures {
  /** Mean luminance, 0-255. */
  meanLuma: number;
  /** Share of samples clipped white. */
  clippedShare: number;
  /** Share of the textured cells whose texture is gone. */
  textureLostShare: number;
  /** Mean absolute luminance change since the previous frame. */
  frameDiff: number;
  /** How much of the edge layout (where edges are, which way they run) differs from the reference, 0-1. */
  layoutChange: number;
}

/** A state raised or cleared by the last frame. */
export interface SceneChange {
  readonly state: SceneState;
  readonly raised: boolean;
  readonly atMs: number;
}

const GRID_W = 64;
const GRID_H = 48;
const CELL = 8; // grid samples per texture cell side: 8 x 6 cells
const CELLS_X = GRID_W / CELL;
const CELLS_Y = GRID_H / CELL;
const CELLS = CELLS_X * CELLS_Y;
const BINS = 8; // edge orientations over 180 degrees
const LAYOUT_CELL = 4; // grid samples per orientation cell side: 16 x 12 cells
const LAYOUT_X = GRID_W / LAYOUT_CELL;
const LAYOUT_CELLS = LAYOUT_X * (GRID_H / LAYOUT_CELL);
const SAMPLES = GRID_W * GRID_H;
/** A 2x2 sample sum at or above this is clipped white (each pixel >= 250). */
const CLIPPED = 4 * 250;
/** Fine texture below this (sum of two Roberts differences, 0-510) is noise, not a textured cell. */
const TEXTURE_FLOOR = 2;
const EDGE_MIN = 16; // 4 luma levels across two samples: weaker is noise
/** Current orientations are smoothed over about this long (people walking by change little). */
const SIGNATURE_SEC = 1;
/** Frames are `frozen` when this share of them over about STILL_SEC showed no change. */
const STILL_SHARE = 0.8;
const STILL_SEC = 1;
/** A raised state clears only once its measure is this much better than the onset threshold. */
const HYSTERESIS = 1.2;
const DARK = 0;
const OVEREXPOSED = 1;
const OBSCURED = 2;
const FROZEN = 3;
const MOVED = 4;
/** The typical change of the edge layout in a healthy view is learnt with this time constant. */
const CHANGE_SEC = 120;
/** Edges gone from a healthy view leave the reference with this time constant. */
const REFERENCE_FALL_SEC = 60;

interface Hysteresis {
  raised: boolean;
  /** Since when the condition has held (raised: since when it has been gone); NaN: not started. */
  sinceMs: number;
  /** When the state was raised. */
  raisedAtMs: number;
}

/**
 * The scene check of one camera view. `observe` takes a frame's raw RGB pixels (any size) and
 * returns the states raised after it; `changes` lists what that frame raised or cleared.
 */
export class SceneCheck {
  readonly measures: SceneMeasures = {
    meanLuma: 0,
    clippedShare: 0,
    textureLostShare: 0,
    frameDiff: 0,
    layoutChange: 0,
  };
  /** States raised or cleared by the last `observe` (reused array). */
  readonly changes: SceneChange[] = [];
  private readonly luma = new Uint16Array(SAMPLES); // 2x2 sums, 0-1020
  /** Where each grid row and column is sampled in the frame's bytes (for its size). */
  private readonly rowOffsets = new Int32Array(GRID_H);
  private readonly columnOffsets = new Int32Array(GRID_W);
  private readonly previous = new Uint16Array(SAMPLES);
  private readonly texture = new Float64Array(CELLS);
  private readonly normalTexture = new Float64Array(CELLS);
  private readonly orientation = new Float64Array(LAYOUT_CELLS * BINS);
  private readonly signature = new Float64Array(LAYOUT_CELLS * BINS);
  private readonly reference = new Float64Array(LAYOUT_CELLS * BINS);
  private readonly states: Hysteresis[] = SCENE_STATES.map(() => ({
    raised: false,
    sinceMs: Number.NaN,
    raisedAtMs: Number.NaN,
  }));
  private normalMean = 0;
  private normalClipped = 0;
  private normalChange = 0;
  private learnedMs = 0;
  private startMs = Number.NaN;
  private lastMs = Number.NaN;
  /** Share of recent frames that did not change (exponential mean over STILL_SEC). */
  private stillShare = 0;
  private width = 0;
  private height = 0;
  private flags: SceneFlags = 0;

  constructor(readonly options: SceneCheckOptions = DEFAULT_SCENE_OPTIONS) {}

  /** The states raised now. */
  get current(): SceneFlags {
    return this.flags;
  }

  /** When each raised state was raised (epoch ms). */
  raisedSince(state: SceneState): number | undefined {
    const h = this.states[SCENE_STATES.indexOf(state)];
    return h?.raised ? h.raisedAtMs : undefined;
  }

  /** The scene's normal is being learnt: relative conditions are not judged yet. */
  get learning(): boolean {
    return this.learnedMs < this.options.learnSec * 1000;
  }

  /**
   * Forgets the scene's normal and reference and learns them anew from the next frames: the view
   * was changed on purpose (set-up, another detection region). Raised states are cleared.
   */
  relearn(atMs: number): void {
    this.changes.length = 0;
    for (let s = 0; s < SCENE_STATES.length; s++) this.settle(s, false, atMs, true);
    this.flags = 0;
    this.learnedMs = 0;
    this.startMs = Number.NaN;
    this.lastMs = Number.NaN;
    this.stillShare = 0;
    this.normalChange = 0;
  }

  private sizeFor(width: number, height: number): void {
    this.width = width;
    this.height = height;
    for (let gy = 0; gy < GRID_H; gy++)
      this.rowOffsets[gy] = Math.min(height - 2, Math.floor(((gy + 0.5) * height) / GRID_H)) * width * 3;
    for (let gx = 0; gx < GRID_W; gx++)
      this.columnOffsets[gx] = Math.min(width - 2, Math.floor(((gx + 0.5) * width) / GRID_W)) * 3;
  }

  /**
   * What was learnt about the view, to be kept across restarts: numbers only (mean brightness,
   * texture per cell, how strongly edges run in each direction per cell), from which no picture can
   * be rebuilt. Undefined while learning.
   */
  normal(): SceneNormal | undefined {
    if (this.learning || this.width === 0) return undefined;
    const round = (v: number) => Math.round(v * 1e6) / 1e6;
    return {
      version: 1,
      width: this.width,
      height: this.height,
      mean: round(this.normalMean),
      clipped: round(this.normalClipped),
      change: round(this.normalChange),
      texture: Array.from(this.normalTexture, round),
      reference: Array.from(this.reference, round),
    };
  }

  /**
   * Takes up a normal kept from an earlier run of the same view: judged against it from the first
   * frame on, so that a camera knocked while the counter was off is `moved` at once instead of being
   * learnt as the new normal. A normal of another version or shape is refused (false).
   */
  resume(normal: SceneNormal, atMs: number): boolean {
    if (
      normal.version !== 1 ||
      normal.texture.length !== CELLS ||
      normal.reference.length !== this.reference.length ||
      !(normal.width >= 2 && normal.height >= 2)
    )
      return false;
    this.sizeFor(normal.width, normal.height);
    this.relearn(atMs);
    this.normalMean = normal.mean;
    this.normalClipped = normal.clipped;
    this.normalChange = normal.change;
    this.normalTexture.set(normal.texture);
    this.reference.set(normal.reference);
    this.learnedMs = this.options.learnSec * 1000;
    return true;
  }

  /** One frame of interleaved RGB; returns the states raised after it. */
  observe(rgb: Uint8Array, width: number, height: number, tsMs: number): SceneFlags {
    if (width < 2 || height < 2 || rgb.length < width * height * 3) return this.flags;
    if (width !== this.width || height !== this.height) {
      // another picture size is another view: what was learnt does not apply to it
      this.sizeFor(width, height);
      this.relearn(tsMs);
    }
    this.changes.length = 0;
    // the first frame after learning began (or a normal was resumed): nothing before it to compare
    const fresh = Number.isNaN(this.lastMs);
    const dtMs = fresh ? 0 : Math.max(0, tsMs - this.lastMs);
    if (Number.isNaN(this.startMs)) this.startMs = tsMs;
    this.lastMs = tsMs;
    const first = this.learnedMs === 0 && dtMs === 0;
    const sums = this.sample(rgb, width);
    const m = this.measures;
    m.meanLuma = sums.luma / SAMPLES / 4;
    m.clippedShare = sums.clipped / SAMPLES;
    m.frameDiff = fresh ? Number.POSITIVE_INFINITY : sums.diff / SAMPLES / 4;
    this.orientations();
    const a = Math.min(1, dtMs / (SIGNATURE_SEC * 1000));
    for (let i = 0; i < this.signature.length; i++) {
      const o = this.orientation[i] as number;
      this.signature[i] = fresh ? o : (this.signature[i] as number) * (1 - a) + o * a;
    }

    const o = this.options;
    const learning = this.learning;
    const st = this.states;
    // a raised state clears only once its measure is clearly back (hysteresis on the threshold too)
    const darkBelow = Math.max(o.darkLuma, learning ? 0 : o.darkShare * this.normalMean);
    const dark = m.meanLuma < darkBelow * (st[DARK]!.raised ? HYSTERESIS : 1);
    const overexposed =
      !learning &&
      m.clippedShare >
        Math.min(0.95, this.normalClipped + o.overexposedShare / (st[OVEREXPOSED]!.raised ? HYSTERESIS : 1));
    // texture, change and orientations mean little in a black or white picture: those states say it
    const lit = !dark && !overexposed;
    m.textureLostShare = learning ? 0 : this.lostTexture(m.meanLuma, st[OBSCURED]!.raised ? HYSTERESIS : 1);
    const obscured = lit && !learning && m.textureLostShare >= o.obscuredShare;
    // frozen needs no normal: the picture has not changed for a while, and it is a picture (a
    // uniform cover does not change either; it is obscured). The share of still frames over the
    // last seconds, not the last change: a stuck stream's encoder still refreshes its picture at
    // every key frame, and a source that repeats frames to keep its rate alternates still and moving
    const still = m.frameDiff <= o.frozenDiff ? 1 : 0;
    this.stillShare = fresh
      ? 0
      : this.stillShare + (still - this.stillShare) * Math.min(1, dtMs / (STILL_SEC * 1000));
    const frozen = lit && !obscured && this.stillShare >= STILL_SHARE;
    m.layoutChange = learning ? 0 : this.layoutChange(m.meanLuma);
    const movedAbove = Math.max(o.movedChange, o.movedFactor * this.normalChange);
    const moved =
      lit && !obscured && !learning && m.layoutChange > movedAbove / (st[MOVED]!.raised ? HYSTERESIS : 1);

    let flags = 0;
    if (this.settle(DARK, dark, tsMs, false)) flags |= SCENE_FLAG.dark;
    if (this.settle(OVEREXPOSED, overexposed, tsMs, false)) flags |= SCENE_FLAG.overexposed;
    if (this.settle(OBSCURED, obscured, tsMs, false)) flags |= SCENE_FLAG.obscured;
    if (this.settle(FROZEN, frozen, tsMs, false)) flags |= SCENE_FLAG.frozen;
    if (this.settle(MOVED, moved, tsMs, false)) flags |= SCENE_FLAG.moved;
    this.flags = flags;

    // only a healthy view teaches what the scene normally looks like
    if (flags === 0 && lit && !obscured && !frozen && !moved) this.learn(dtMs, first, learning);
    this.previous.set(this.luma);
    return flags;
  }

  /** Applies onset and clearing rules to state `s`; true while it is raised. */
  private settle(s: number, condition: boolean, tsMs: number, reset: boolean): boolean {
    const h = this.states[s] as Hysteresis;
    const state = SCENE_STATES[s] as SceneState;
    if (reset) {
      if (h.raised) this.changes.push({ state, raised: false, atMs: tsMs });
      h.raised = false;
      h.sinceMs = Number.NaN;
      h.raisedAtMs = Number.NaN;
      return false;
    }
    // while lowered, sinceMs is when the condition began; while raised, when it ended
    const wanted = !h.raised ? condition : !condition;
    if (!wanted) {
      h.sinceMs = Number.NaN;
      return h.raised;
    }
    if (Number.isNaN(h.sinceMs)) h.sinceMs = tsMs;
    const holdMs = (h.raised ? this.options.clearSec : this.options.onsetSec) * 1000;
    if (tsMs - h.sinceMs >= holdMs) {
      h.raised = !h.raised;
      h.sinceMs = Number.NaN;
      h.raisedAtMs = h.raised ? tsMs : Number.NaN;
      this.changes.push({ state, raised: h.raised, atMs: tsMs });
    }
    return h.raised;
  }

  /**
   * Reads the grid: each sample is the sum of a 2x2 block of pixels' luminance, which also gives
   * the finest texture there is (the Roberts cross of the block), so a slight blur shows.
   */
  private sample(rgb: Uint8Array, width: number): { luma: number; clipped: number; diff: number } {
    const luma = this.luma;
    const prev = this.previous;
    const texture = this.texture;
    texture.fill(0);
    let lumaSum = 0;
    let clipped = 0;
    let diff = 0;
    const stride = width * 3;
    const rows = this.rowOffsets;
    const columns = this.columnOffsets;
    for (let gy = 0; gy < GRID_H; gy++) {
      const row = rows[gy] as number;
      const cellRow = ((gy / CELL) | 0) * CELLS_X;
      for (let gx = 0; gx < GRID_W; gx++) {
        const i = row + (columns[gx] as number);
        const j = i + stride;
        // BT.601 luma in 8-bit fixed point
        const p00 =
          ((rgb[i] as number) * 77 + (rgb[i + 1] as number) * 150 + (rgb[i + 2] as number) * 29) >> 8;
        const p10 =
          ((rgb[i + 3] as number) * 77 + (rgb[i + 4] as number) * 150 + (rgb[i + 5] as number) * 29) >> 8;
        const p01 =
          ((rgb[j] as number) * 77 + (rgb[j + 1] as number) * 150 + (rgb[j + 2] as number) * 29) >> 8;
        const p11 =
          ((rgb[j + 3] as number) * 77 + (rgb[j + 4] as number) * 150 + (rgb[j + 5] as number) * 29) >> 8;
        const sum = p00 + p10 + p01 + p11;
        const k = gy * GRID_W + gx;
        diff += Math.abs(sum - (prev[k] as number));
        luma[k] = sum;
        lumaSum += sum;
        if (sum >= CLIPPED) clipped++;
        const c = cellRow + ((gx / CELL) | 0);
        texture[c] = (texture[c] as number) + Math.abs(p00 - p11) + Math.abs(p10 - p01);
      }
    }
    for (let c = 0; c < CELLS; c++) texture[c] = (texture[c] as number) / (CELL * CELL);
    this.sums.luma = lumaSum;
    this.sums.clipped = clipped;
    this.sums.diff = diff;
    return this.sums;
  }

  private readonly sums = { luma: 0, clipped: 0, diff: 0 };

  /** Per cell, a histogram of edge orientations weighted by strength, each cell's summing to 1. */
  private orientations(): void {
    const h = this.orientation;
    h.fill(0);
    const luma = this.luma;
    for (let gy = 1; gy < GRID_H - 1; gy++) {
      const cellRow = ((gy / LAYOUT_CELL) | 0) * LAYOUT_X;
      for (let gx = 1; gx < GRID_W - 1; gx++) {
        const k = gy * GRID_W + gx;
        const dx = (luma[k + 1] as number) - (luma[k - 1] as number);
        const dy = (luma[k + GRID_W] as number) - (luma[k - GRID_W] as number);
        const strength = Math.abs(dx) + Math.abs(dy);
        if (strength < EDGE_MIN) continue;
        const bin = orientationBin(dx, dy);
        const c = cellRow + ((gx / LAYOUT_CELL) | 0);
        h[c * BINS + bin] = (h[c * BINS + bin] as number) + strength;
      }
    }
  }

  /** Share of the normally textured cells whose texture is gone, brightness allowed for. */
  private lostTexture(meanLuma: number, loose: number): number {
    // the median normal texture: cells far below it are sky or walls, not judged
    let textured = 0;
    let lost = 0;
    const median = medianOf(this.normalTexture, this.scratch);
    const brightness = Math.min(1, Math.max(0.2, this.normalMean > 0 ? meanLuma / this.normalMean : 1));
    const floor = Math.max(TEXTURE_FLOOR, 0.25 * median);
    for (let c = 0; c < CELLS; c++) {
      const normal = this.normalTexture[c] as number;
      if (normal < floor) continue;
      textured++;
      if ((this.texture[c] as number) < this.options.textureLostShare * loose * normal * brightness) lost++;
    }
    return textured >= 4 ? lost / textured : 0;
  }

  private readonly scratch = new Float64Array(CELLS);

  /**
   * Share of the reference's edges (by place and orientation) missing from the view now, its
   * brightness allowed for. Road users only add edges (or hide a few): the view's own structure
   * goes missing when the camera points elsewhere.
   */
  private layoutChange(meanLuma: number): number {
    const brightness = Math.min(5, Math.max(0.2, this.normalMean > 0 ? meanLuma / this.normalMean : 1));
    let common = 0;
    let total = 0;
    const signature = this.signature;
    const reference = this.reference;
    for (let i = 0; i < reference.length; i++) {
      const r = reference[i] as number;
      total += r;
      common += Math.min((signature[i] as number) / brightness, r);
    }
    return total > 0 ? 1 - common / total : 0;
  }

  /** The frame looked healthy: the normal takes it in (a running mean while learning, slowly after). */
  private learn(dtMs: number, first: boolean, learning: boolean): void {
    const a = first
      ? 1
      : learning
        ? dtMs / Math.max(1, this.learnedMs + dtMs)
        : dtMs / (this.options.adaptSec * 1000);
    if (!learning) {
      // how much the layout moves about in a healthy view (people, traffic), learnt once there is a reference
      const c = Math.min(1, dtMs / (CHANGE_SEC * 1000));
      this.normalChange += (this.measures.layoutChange - this.normalChange) * c;
    }
    this.learnedMs += dtMs;
    const m = this.measures;
    this.normalMean += (m.meanLuma - this.normalMean) * a;
    this.normalClipped += (m.clippedShare - this.normalClipped) * a;
    const texture = this.texture;
    const normalTexture = this.normalTexture;
    for (let c = 0; c < CELLS; c++)
      normalTexture[c] =
        (normalTexture[c] as number) + ((texture[c] as number) - (normalTexture[c] as number)) * a;
    const reference = this.reference;
    const orientation = this.orientation;
    const signature = this.signature;
    if (learning) {
      // the edges present all through the learning time (over a second's smoothing): the view's
      // own structure, without whoever passed by, or a car that left
      for (let i = 0; i < reference.length; i++)
        reference[i] = first
          ? (signature[i] as number)
          : Math.min(reference[i] as number, signature[i] as number);
      return;
    }
    // edges gone from a healthy view leave the reference within a minute or two; new ones join it as
    // slowly as the rest of the normal
    const fall = Math.min(1, dtMs / (REFERENCE_FALL_SEC * 1000));
    for (let i = 0; i < reference.length; i++) {
      const r = reference[i] as number;
      const o = orientation[i] as number;
      reference[i] = r + (o - r) * (o < r ? fall : a);
    }
  }
}

const TAN_22_5 = Math.SQRT2 - 1;
const TAN_67_5 = Math.SQRT2 + 1;

/** Which of 8 bins of 22.5 degrees over 0-180 degrees the direction (dx, dy) falls in (no trigonometry). */
export function orientationBin(dx: number, dy: number): number {
  // a direction and its opposite are one orientation
  let x = dx;
  let y = dy;
  if (y < 0 || (y === 0 && x < 0)) {
    x = -x;
    y = -y;
  }
  if (x >= 0) return y < TAN_22_5 * x ? 0 : y < x ? 1 : y < TAN_67_5 * x ? 2 : 3;
  const ax = -x;
  return y > TAN_67_5 * ax ? 4 : y > ax ? 5 : y > TAN_22_5 * ax ? 6 : 7;
}

/** Median of `values`, using `scratch` (same length) for sorting. */
function medianOf(values: Float64Array, scratch: Float64Array): number {
  scratch.set(values);
  scratch.sort();
  return scratch[scratch.length >> 1] as number;
}
