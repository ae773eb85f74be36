import { familyOf } from "../domain/classes.ts";
import { bufferedIou } from "../domain/geometry.ts";
import type { Box, Detection, Point, Sighting, Track, TrackState, TrackUpdate } from "../domain/types.ts";
import { FaintSightings } from "./faint-sightings.ts";
import { GroupBoxes } from "./group-boxes.ts";
import { assignMinCost } from "./hungarian.ts";
import { AxisFilter } from "./kalman.ts";

export interface TrackerOptions {
  /** Detections at or above this score take part in the first association. */
  readonly highScore: number;
  /** Detections between this and highScore rescue tracks in the second association; lower ones are ignored. */
  readonly lowScore: number;
  /** A new track starts only from a detection at or above this score. */
  readonly newTrackScore: number;
  /** Minimum IoU for the first association (tracked and lost tracks vs high-score detections). */
  readonly matchIou: number;
  /** Minimum IoU for the second association (tracked tracks vs low-score detections). */
  readonly lowMatchIou: number;
  /** Minimum IoU to continue a tentative track. */
  readonly tentativeMatchIou: number;
  /** Matched frames before a track is confirmed. */
  readonly minHits: number;
  /** How long a lost track is kept for re-identification, in seconds (independent of frame rate). */
  readonly lostBufferSec: number;
  /**
   * Boxes are widened by this fraction of their size on every side before the IoU of the first and
   * tentative associations (buffered IoU), so fast objects at low frame rates still overlap their track.
   */
  readonly iouBuffer: number;
  /**
   * Relative prior per label for the category vote within a family, e.g. bicycle 0.9 and
   * motorcycle 0.1 where motorcycles are rare: a track is a motorcycle only when the detector's
   * evidence outweighs that. Labels not listed weigh 1.
   */
  readonly classPrior: Readonly<Record<string, number>>;
}

export const DEFAULT_TRACKER_OPTIONS: TrackerOptions = {
  highScore: 0.5,
  lowScore: 0.1,
  newTrackScore: 0.55,
  matchIou: 0.2,
  lowMatchIou: 0.5,
  tentativeMatchIou: 0.3,
  minHits: 3,
  lostBufferSec: 2,
  iouBuffer: 0.3,
  classPrior: {},
};

// Noise model of ByteTrack (std 1/20 of the box height for position, 1/160 per frame for velocity),
// expressed per second relative to its 30 fps reference so it behaves alike at 3 and at 30 fps.
const POS_STD = 1 / 20;
const VEL_STD = 1 / 160;
const REF_DT = 1 / 30;

class TrackImpl implements Track {
  /** The last update() in which this track was matched (a frame stamp instead of a per-frame Set). */
  matchedInFrame = -1;
  readonly cx = new AxisFilter();
  readonly cy = new AxisFilter();
  readonly w = new AxisFilter();
  readonly h = new AxisFilter();
  box: Box = { x1: 0, y1: 0, x2: 0, y2: 0 };
  velocity: Point = { x: 0, y: 0 };
  category = "";
  readonly categoryVotes = new Map<string, number>();
  state: TrackState = "tentative";
  lastSeenMs: number;
  hits = 1;
  family: string;
  origin: Sighting;

  constructor(
    readonly id: number,
    det: Detection,
    readonly firstSeenMs: number,
    family: string,
    private readonly classPrior: Readonly<Record<string, number>>,
  ) {
    const b = det.box;
    const height = Math.max(1, b.y2 - b.y1);
    const posStd = 2 * POS_STD * height;
    const velStd = (10 * VEL_STD * height) / REF_DT;
    this.cx.init((b.x1 + b.x2) / 2, posStd, velStd);
    this.cy.init((b.y1 + b.y2) / 2, posStd, velStd);
    this.w.init(b.x2 - b.x1, posStd, velStd);
    this.h.init(height, posStd, velStd);
    this.lastSeenMs = firstSeenMs;
    this.family = family;
    this.origin = { box: { x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2 }, tsMs: firstSeenMs };
    this.vote(det);
    this.refresh();
  }

  predict(dt: number): void {
    const height = Math.max(1, this.h.p);
    const scale = dt / REF_DT;
    const qp = (POS_STD * height) ** 2 * scale;
    const qv = ((VEL_STD * height) / REF_DT) ** 2 * scale;
    this.cx.predict(dt, qp, qv);
    this.cy.predict(dt, qp, qv);
    this.w.predict(dt, qp, qv);
    this.h.predict(dt, qp, qv);
    if (this.w.p < 1) this.w.p = 1;
    if (this.h.p < 1) this.h.p = 1;
    this.refresh();
  }

  correct(det: Detection, tsMs: number): void {
    const b = det.box;
    const r = (POS_STD * Math.max(1, b.y2 - b.y1)) ** 2;
    this.cx.update((b.x1 + b.x2) / 2, r);
    this.cy.update((b.y1 + b.y2) / 2, r);
    this.w.update(b.x2 - b.x1, r);
    this.h.update(b.y2 - b.y1, r);
    this.lastSeenMs = tsMs;
    this.hits++;
    this.vote(det);
    this.refresh();
  }

  /**
   * The category is decided over the track's life, not per frame. A detection's vote is its score
   * times its box height (the nearer and larger, the more pixels the class was judged on) times the
   * class's prior (how common it is where the device stands).
   */
  private vote(det: Detection): void {
    const weight = det.score * Math.max(1, det.box.y2 - det.box.y1) * (this.classPrior[det.label] ?? 1);
    const total = (this.categoryVotes.get(det.label) ?? 0) + weight;
    this.categoryVotes.set(det.label, total);
    if (this.category === "" || total > (this.categoryVotes.get(this.category) ?? 0))
      this.category = det.label;
  }

  private refresh(): void {
    const hw = this.w.p / 2;
    const hh = this.h.p / 2;
    this.box = { x1: this.cx.p - hw, y1: this.cy.p - hh, x2: this.cx.p + hw, y2: this.cy.p + hh };
    this.velocity = { x: this.cx.v, y: this.cy.v };
  }
}

/**
 * A ByteTrack-class multi-object tracker: per-coordinate constant-velocity Kalman filters, two-stage
 * association (high-score detections first, then low-score ones against the remaining tracks),
 * optimal assignment on IoU, and a lost-track buffer measured in seconds.
 */
export class ByteTracker {
  private readonly active: TrackImpl[] = [];
  private readonly outTracks: Track[] = [];
  private readonly outRemoved: Track[] = [];
  private nextId = 1;
  private lastTsMs: number | undefined;
  private frame = 0;
  // Working memory reused by every update(): the frame loop allocates nothing it can reuse.
  private readonly high: Detection[] = [];
  private readonly low: Detection[] = [];
  private readonly candidates: TrackImpl[] = [];
  private usedHigh = new Uint8Array(64);
  private usedLow = new Uint8Array(64);
  /** Per high-score detection: the tentative or new track that took it (0: none). */
  private heldBy = new Int32Array(64);
  private readonly edgeT: number[] = [];
  private readonly edgeD: number[] = [];
  private readonly edgeIou: number[] = [];
  private parent = new Int32Array(128);
  private readonly rootEdges = new Map<number, number>();
  private readonly lostBefore: TrackImpl[] = [];
  private readonly groups = new Map<number, { t: number; d: number; iou: number }[]>();
  private readonly faint: FaintSightings;
  private readonly groupBoxes = new GroupBoxes();

  constructor(readonly options: TrackerOptions = DEFAULT_TRACKER_OPTIONS) {
    // a faint past is followed as far back as a lost track is kept, with the low-score association's
    // overlap, across missed frames as in step 2b
    this.faint = new FaintSightings(options.lostBufferSec * 1000, options.lowMatchIou);
  }

  /** Number of tracks currently held (tentative, confirmed and lost). */
  get size(): number {
    return this.active.length;
  }

  update(detections: readonly Detection[], tsMs: number): TrackUpdate {
    const o = this.options;
    const dt = this.lastTsMs === undefined ? 0 : Math.max(0, (tsMs - this.lastTsMs) / 1000);
    this.lastTsMs = tsMs;
    for (const t of this.active) t.predict(dt);

    const frame = ++this.frame;
    const high = this.high;
    const low = this.low;
    high.length = 0;
    low.length = 0;
    // several road users boxed as one are not one more road user (a "bus" around two cars)
    const grouped = this.groupBoxes.mark(detections);
    for (let i = 0; i < detections.length; i++) {
      const d = detections[i] as Detection;
      if (grouped[i]) continue;
      if (d.score >= o.highScore) high.push(d);
      else if (d.score >= o.lowScore) low.push(d);
    }
    if (this.usedHigh.length < high.length) this.usedHigh = new Uint8Array(high.length * 2);
    if (this.usedLow.length < low.length) this.usedLow = new Uint8Array(low.length * 2);
    if (this.heldBy.length < high.length) this.heldBy = new Int32Array(high.length * 2);
    const usedHigh = this.usedHigh;
    usedHigh.fill(0, 0, high.length);
    this.usedLow.fill(0, 0, low.length);
    const candidates = this.candidates;

    // 1. confirmed and lost tracks against high-score detections
    candidates.length = 0;
    for (const t of this.active) if (t.state === "confirmed" || t.state === "lost") candidates.push(t);
    this.associate(candidates, high, usedHigh, o.matchIou, o.iouBuffer, (t, d) => {
      t.correct(d, tsMs);
      t.state = "confirmed";
      t.matchedInFrame = frame;
    });
    // 2. tracks seen in the previous frame and still unmatched, against low-score detections
    // (a track still "confirmed" and unmatched here was not lost before this frame)
    const lostBefore = this.lostBefore;
    lostBefore.length = 0;
    let remaining = 0;
    for (const t of candidates) {
      if (t.matchedInFrame === frame) continue;
      if (t.state === "confirmed") candidates[remaining++] = t;
      else lostBefore.push(t);
    }
    candidates.length = remaining;
    this.associate(candidates, low, this.usedLow, o.lowMatchIou, 0, (t, d) => {
      t.correct(d, tsMs);
      t.matchedInFrame = frame;
    });
    // 2b. lost tracks against the low-score detections nobody took, with the same strict overlap
    // with where each track should be now: an object fading in the detector's eyes (a dark car
    // against the road, missed for a few frames and then seen only weakly) keeps its track instead
    // of waiting for a confident detection that may not come. The overlap is the bound: the longer
    // a track is lost, the less its prediction lies on anything. A weak box that overlaps a road
    // user found in this frame is a fragment of that one (in a crowd, the occluder), not the lost
    // one: it rescues nothing.
    if (lostBefore.length > 0) {
      for (let di = 0; di < low.length; di++) {
        if (this.usedLow[di]) continue;
        const box = (low[di] as Detection).box;
        for (const t of this.active)
          if (t.matchedInFrame === frame && bufferedIou(t.box, box, 0) >= o.iouBuffer) {
            this.usedLow[di] = 1;
            break;
          }
      }
    }
    this.associate(lostBefore, low, this.usedLow, o.lowMatchIou, 0, (t, d) => {
      t.correct(d, tsMs);
      t.state = "confirmed";
      t.matchedInFrame = frame;
    });
    // 3. tentative tracks against the high-score detections left over
    candidates.length = 0;
    for (const t of this.active) if (t.state === "tentative") candidates.push(t);
    const heldBy = this.heldBy;
    heldBy.fill(0, 0, high.length);
    this.associate(candidates, high, usedHigh, o.tentativeMatchIou, o.iouBuffer, (t, d, i) => {
      heldBy[i] = t.id;
      t.correct(d, tsMs);
      if (t.hits >= o.minHits) t.state = "confirmed";
      t.matchedInFrame = frame;
    });

    this.outRemoved.length = 0;
    let keep = 0;
    for (const t of this.active) {
      if (t.matchedInFrame !== frame) {
        if (t.state === "tentative") t.state = "removed";
        else if (t.state === "confirmed") t.state = "lost";
        if (t.state === "lost" && tsMs - t.lastSeenMs > o.lostBufferSec * 1000) t.state = "removed";
      }
      if (t.state === "removed") {
        this.outRemoved.push(t);
        // a track that never got confirmed gives its sightings back: a later track may start from them
        if (t.hits < o.minHits) this.faint.release(t.id);
      } else this.active[keep++] = t;
    }
    this.active.length = keep;

    // 4. new tracks from confident detections nobody claimed; each starts where the faint sightings
    // before it lead (an object fading in was there before it scored high enough to start a track)
    for (let i = 0; i < high.length; i++) {
      const d = high[i]!;
      if (usedHigh[i] || d.score < o.newTrackScore) continue;
      const t = new TrackImpl(this.nextId++, d, tsMs, familyOf(d.label), o.classPrior);
      const origin = this.faint.traceBack(d.box, t.family, tsMs, t.id);
      if (origin) t.origin = origin;
      if (o.minHits <= 1) t.state = "confirmed";
      heldBy[i] = t.id;
      this.active.push(t);
    }
    // this frame's sightings that no established track took: held by the tentative track that took
    // them (given back if it dies), by the road user matched here that they are a fragment of, or free
    this.faint.beginFrame(tsMs);
    for (let i = 0; i < high.length; i++) {
      const d = high[i] as Detection;
      if (heldBy[i]) this.faint.add(d.box, familyOf(d.label), heldBy[i] as number);
      else if (!usedHigh[i]) this.recordFaint(d, frame, o.iouBuffer);
    }
    for (let i = 0; i < low.length; i++)
      if (!this.usedLow[i]) this.recordFaint(low[i] as Detection, frame, o.iouBuffer);

    this.outTracks.length = 0;
    for (const t of this.active) this.outTracks.push(t);
    return { tsMs, tracks: this.outTracks, removed: this.outRemoved };
  }

  /** Records an untaken detection: free, or held by the road user it is a fragment of. */
  private recordFaint(d: Detection, frame: number, fragmentIou: number): void {
    let holder = 0;
    for (const t of this.active)
      if (
        t.matchedInFrame === frame &&
        t.hits >= this.options.minHits &&
        bufferedIou(t.box, d.box, 0) >= fragmentIou
      ) {
        holder = t.id;
        break;
      }
    this.faint.add(d.box, familyOf(d.label), holder);
  }

  /**
   * Optimal one-to-one matching of tracks to unused detections with IoU >= minIou, solved per
   * connected group of overlapping boxes so a crowd of hundreds costs little more than a few.
   */
  private associate(
    tracks: readonly TrackImpl[],
    dets: readonly Detection[],
    used: Uint8Array,
    minIou: number,
    buffer: number,
    onMatch: (t: TrackImpl, d: Detection, index: number) => void,
  ): void {
    if (tracks.length === 0 || dets.length === 0) return;
    const { edgeT, edgeD, edgeIou } = this;
    edgeT.length = 0;
    edgeD.length = 0;
    edgeIou.length = 0;
    for (let ti = 0; ti < tracks.length; ti++) {
      const t = tracks[ti]!;
      for (let di = 0; di < dets.length; di++) {
        if (used[di]) continue;
        const d = dets[di]!;
        if (familyOf(d.label) !== t.family) continue;
        const v = bufferedIou(t.box, d.box, buffer);
        if (v >= minIou) {
          edgeT.push(ti);
          edgeD.push(di);
          edgeIou.push(v);
        }
      }
    }
    const edgeCount = edgeT.length;
    if (edgeCount === 0) return;
    // union-find over tracks (0..T-1) and detections (T..T+D-1)
    const nodes = tracks.length + dets.length;
    if (this.parent.length < nodes) this.parent = new Int32Array(nodes * 2);
    const parent = this.parent;
    for (let i = 0; i < nodes; i++) parent[i] = i;
    const find = (x: number): number => {
      while (parent[x] !== x) {
        parent[x] = parent[parent[x]!]!;
        x = parent[x]!;
      }
      return x;
    };
    for (let e = 0; e < edgeCount; e++) parent[find(edgeT[e]!)] = find(tracks.length + edgeD[e]!);
    // most groups are one track and one detection: matched at once, no group built
    const rootEdges = this.rootEdges;
    rootEdges.clear();
    for (let e = 0; e < edgeCount; e++) {
      const root = find(edgeT[e]!);
      rootEdges.set(root, (rootEdges.get(root) ?? 0) + 1);
    }
    // crowds: the edges of each larger group, for an optimal assignment within it
    const groups = this.groups;
    groups.clear();
    for (let e = 0; e < edgeCount; e++) {
      const root = find(edgeT[e]!);
      if (rootEdges.get(root) === 1) {
        used[edgeD[e]!] = 1;
        onMatch(tracks[edgeT[e]!]!, dets[edgeD[e]!]!, edgeD[e]!);
        continue;
      }
      const g = groups.get(root);
      const edge = { t: edgeT[e]!, d: edgeD[e]!, iou: edgeIou[e]! };
      if (g) g.push(edge);
      else groups.set(root, [edge]);
    }
    for (const group of groups.values()) {
      const ts = [...new Set(group.map((e) => e.t))];
      const ds = [...new Set(group.map((e) => e.d))];
      const cost = new Float64Array(ts.length * ds.length).fill(Number.POSITIVE_INFINITY);
      for (const e of group) cost[ts.indexOf(e.t) * ds.length + ds.indexOf(e.d)] = 1 - e.iou;
      const assignment = assignMinCost(cost, ts.length, ds.length);
      for (let r = 0; r < ts.length; r++) {
        const c = assignment[r]!;
        if (c < 0) continue;
        used[ds[c]!] = 1;
        onMatch(tracks[ts[r]!]!, dets[ds[c]!]!, ds[c]!);
      }
    }
  }
}
