import { type Anchor, anchorPoint, segmentsIntersect, sideOfPolyline } from "../domain/geometry.ts";
import type { Crossing, Point, RoadUser } from "../domain/types.ts";
import { type PerTrack, TrackStates } from "./track-states.ts";

export interface LineSpec {
  readonly name: string;
  /** In source pixels; two points for a segment, more for a polyline. */
  readonly points: readonly Point[];
  /** Side on the left when walking the line from its first to its last point, as seen on the image. */
  readonly from: string;
  readonly to: string;
}

export interface LineCounterOptions {
  readonly anchor: Anchor;
  /**
   * Hysteresis: a crossing counts once the anchor is this far past the line (in the object's box
   * heights), or has stayed on the new side for `minSideSec`, whichever comes first.
   */
  readonly minDistance: number;
  readonly minSideSec: number;
  /** How near (in box heights) a new track must be born to a vanished one to take over its state. */
  readonly handoverRadius: number;
  /** How long a vanished track's state waits for a successor, in seconds. */
  readonly handoverWindowSec: number;
}

export const DEFAULT_LINE_OPTIONS: LineCounterOptions = {
  anchor: "bottom-center",
  minDistance: 0.15,
  minSideSec: 1,
  handoverRadius: 1,
  handoverWindowSec: 3,
};

const FROM_TO = 1;
const TO_FROM = 2;
/**
 * A box that lost more than this share of its height from one sighting to the next was cut (a part
 * hidden by something nearer, or by the picture's edge), it did not move: no side is committed on
 * that sighting, and a crossing waits for the next one to confirm the side (a cut that comes and
 * goes moves the anchor over the line and back). Walking or driving changes a box's height by a few
 * per cent between frames, also at 7 fps. A box that grows that much is uncovered: its anchor is
 * better than before, and is taken at once.
 */
const JUMP = 0.2;

interface TrackLineState extends PerTrack {
  /** Committed side: -1 the `from` side, +1 the `to` side, 0 not yet known. */
  side: -1 | 0 | 1;
  /** Side the anchor is on now, and since when without a break. */
  observedSide: -1 | 0 | 1;
  observedSinceMs: number;
  /** The side was taken from a first sighting close to the line, not yet confirmed. */
  provisional: boolean;
  /** The anchor's path met the finite line since it left the committed side. */
  crossed: boolean;
  /** Directions already counted for this track (FROM_TO | TO_FROM). */
  counted: number;
  /** A crossing completed while the track was still tentative: emitted once it is confirmed. */
  pending: number;
  /** An estimated extent placed the anchor since the side was last committed / in the pending crossings. */
  estimated: boolean;
  pendingEstimated: boolean;
  lastX: number;
  lastY: number;
  /** Distance of the last anchor from the line, in pixels, and the box height then. */
  lastDistance: number;
  lastHeight: number;
  hasLast: boolean;
}

/**
 * Counts crossings of one line. A crossing needs the anchor's path to meet the finite line and the
 * anchor to get a minimum distance past it (hysteresis), so jitter on the line counts nothing. Only
 * confirmed tracks count, each at most once per direction; crossing back counts the other direction.
 */
export class LineCounter {
  private readonly states: TrackStates<TrackLineState>;
  private readonly out: Crossing[] = [];

  constructor(
    readonly line: LineSpec,
    readonly options: LineCounterOptions = DEFAULT_LINE_OPTIONS,
  ) {
    if (line.points.length < 2) throw new Error(`line ${line.name}: needs at least 2 points`);
    this.states = new TrackStates(options.handoverWindowSec * 1000, options.handoverRadius);
  }

  /** Crossings completed in this frame. `removedIds` are tracks the tracker ended. */
  update(users: readonly RoadUser[], tsMs: number, removedIds: readonly number[] = []): readonly Crossing[] {
    this.out.length = 0;
    for (const id of removedIds) this.states.end(id);
    for (const u of users) {
      if (!u.seen) {
        // Lost near the line: the box is a prediction. Offer the state to a successor born nearby
        // (an ID switch at the line). Far from the line nothing can be double counted, and people
        // leaving and entering at the same frame edge must not merge.
        const s = this.states.get(u.trackId);
        const nearLine = s?.hasLast === true && s.lastDistance <= this.options.handoverRadius * s.lastHeight;
        const p = anchorPoint(u.box, this.options.anchor);
        this.states.lost(u.trackId, p.x, p.y, Math.max(1, u.box.y2 - u.box.y1), u.mode, nearLine, tsMs);
        continue;
      }
      const a = anchorPoint(u.box, this.options.anchor);
      const height = Math.max(1, u.box.y2 - u.box.y1);
      let s = this.states.seen(u.trackId);
      if (!s) {
        const radius = this.options.handoverRadius * height;
        const nearLine = sideOfPolyline(this.line.points, a.x, a.y).distance <= radius;
        s = nearLine
          ? this.states.takeOver(u.trackId, { x: a.x, y: a.y, height, mode: u.mode }, radius, tsMs)
          : undefined;
        if (!s) {
          s = {
            side: 0,
            provisional: false,
            observedSide: 0,
            observedSinceMs: tsMs,
            crossed: false,
            counted: 0,
            pending: 0,
            estimated: false,
            pendingEstimated: false,
            lastX: 0,
            lastY: 0,
            lastDistance: 0,
            lastHeight: 1,
            hasLast: false,
            wasSeen: true,
          };
          this.states.set(u.trackId, s);
          // a road user seen faintly before its track began starts from there
          const o = u.origin;
          if (o && o.tsMs < tsMs) {
            const p = anchorPoint(o.box, this.options.anchor);
            this.step(s, p.x, p.y, Math.max(1, o.box.y2 - o.box.y1), o.tsMs, false);
          }
        }
      }
      this.step(s, a.x, a.y, height, tsMs, u.estimated === true);
      if (s.pending !== 0 && u.confirmed) {
        for (const dir of [FROM_TO, TO_FROM])
          if (s.pending & dir) this.emit(dir, u, tsMs, s.pendingEstimated);
        s.pending = 0;
        s.pendingEstimated = false;
      }
    }
    this.states.expire(tsMs);
    return this.out;
  }

  private step(
    s: TrackLineState,
    x: number,
    y: number,
    height: number,
    tsMs: number,
    estimated: boolean,
  ): void {
    const pts = this.line.points;
    const cut = s.hasLast && s.lastHeight - height > JUMP * s.lastHeight;
    if (estimated) s.estimated = true;
    if (s.hasLast && !s.crossed) {
      for (let i = 1; i < pts.length; i++) {
        const p = pts[i - 1]!;
        const q = pts[i]!;
        if (segmentsIntersect(s.lastX, s.lastY, x, y, p.x, p.y, q.x, q.y)) {
          s.crossed = true;
          break;
        }
      }
    }
    s.lastX = x;
    s.lastY = y;
    s.hasLast = true;
    const { side, distance } = sideOfPolyline(pts, x, y);
    s.lastDistance = distance;
    s.lastHeight = height;
    if (side === 0 || (cut && s.side !== 0)) return;
    if (side !== s.observedSide) {
      s.observedSide = side;
      s.observedSinceMs = tsMs;
    }
    const farEnough = distance >= Math.max(1, this.options.minDistance * height);
    const longEnough = tsMs - s.observedSinceMs >= this.options.minSideSec * 1000;
    if (s.side === 0) {
      // The first sighting gives the side, provisionally if it is close to the line: someone first
      // seen beside the line (the first frames, or out of an occlusion) who then walks across it
      // is counted, but only once clearly on the other side (standing on the line counts nothing).
      s.side = side;
      s.provisional = !farEnough && !longEnough;
      s.crossed = false;
      return;
    }
    if (!farEnough && !longEnough) return;
    if (side !== s.side) {
      if (s.crossed && (farEnough || !s.provisional)) {
        const dir = s.side < 0 ? FROM_TO : TO_FROM;
        if (!(s.counted & dir)) {
          s.counted |= dir;
          s.pending |= dir;
          if (s.estimated) s.pendingEstimated = true;
        }
      }
      s.side = side;
    }
    s.provisional = false;
    s.crossed = false;
    s.estimated = estimated;
  }

  private emit(dir: number, u: RoadUser, tsMs: number, estimated: boolean): void {
    const forward = dir === FROM_TO;
    this.out.push({
      line: this.line.name,
      from: forward ? this.line.from : this.line.to,
      to: forward ? this.line.to : this.line.from,
      mode: u.mode,
      tsMs,
      estimated,
    });
  }

  /** Per-track state held (bounded by the live tracks plus the handover window). */
  get size(): number {
    return this.states.size;
  }
}
