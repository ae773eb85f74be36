import { DEFAULT_MODE_OF, DEFAULT_MOTORCYCLE_SHARE, isPerson, isTwoWheeler } from "../domain/classes.ts";
import type { Box, Mode, RoadUser, Track, TrackUpdate } from "../domain/types.ts";
import { CutFromBelow } from "./cut-from-below.ts";

export interface ModeOptions {
  /** Mode per detector label for tracks that are not fused; e.g. map car, truck and bus to "vehicle". */
  readonly modeOf: Readonly<Record<string, Mode>>;
  /** Frames of riding-like co-movement needed before a person and a two-wheeler are fused. */
  readonly riderFrames: number;
  /** A two-wheeler slower than this many of its own box heights per second is parked. */
  readonly parkedSpeed: number;
  /**
   * A person moving faster than this many of their own heights per second for `RIDING_MS` rides
   * (walking is 0.6-1, running up to about 2, cycling 2-4), also when no two-wheeler is seen under
   * them; 0 turns the rule off.
   */
  readonly riderSpeed: number;
  /** Expected share of motorcycles among two-wheelers: which one a rider seen without it rides, until riders seen with theirs say otherwise. */
  readonly motorcycleShare: number;
}

export const DEFAULT_MODE_OPTIONS: ModeOptions = {
  modeOf: DEFAULT_MODE_OF,
  riderFrames: 3,
  parkedSpeed: 0.15,
  riderSpeed: 2,
  motorcycleShare: DEFAULT_MOTORCYCLE_SHARE,
};

/** A rider whose two-wheeler was never seen: what it rides is decided when it is counted, on the evidence then. */
const RIDES_UNSEEN = "?";
/** How long a person must keep to riding speed to be taken for a rider (the speed is a filter's, noisy at first). */
const RIDING_MS = 600;
/** The prior's weight, in riders seen with their two-wheeler, in the guess of what a rider seen without one rides. */
const PRIOR_RIDERS = 3;
/** Riders seen with their two-wheeler are remembered with this weight at most (older ones fade). */
const MAX_RIDERS = 200;

interface UserState {
  /** The road user handed on, updated in place every frame. */
  readonly user: { -readonly [K in keyof RoadUser]-?: RoadUser[K] };
  /** Person: evidence of riding per two-wheeler track. */
  evidence: Map<number, number>;
  /** Person: the two-wheeler it rides. Two-wheeler: the person riding or walking it. */
  partner: number | undefined;
  /** Person: whether the partner is ridden (true) or walked beside (false). */
  riding: boolean;
  /**
   * Person: the two-wheeler label it was seen riding — kept when that two-wheeler is lost from view —,
   * `RIDES_UNSEEN` when it moves at riding speed with none seen, or "".
   */
  rode: string;
  /** Person: time at riding speed, less time below it (ms), and the last frame it was measured at. */
  fastMs: number;
  lastMs: number;
}

function speedInHeights(t: Track, box: Box = t.box): number {
  const h = Math.max(1, box.y2 - box.y1);
  return Math.hypot(t.velocity.x, t.velocity.y) / h;
}

/**
 * A detector boxes a person hidden from below down to about the occluder's top edge, give or take
 * this share of the person's height.
 */
const EDGE_TOLERANCE = 0.05;

/**
 * The person's feet may be hidden: the bottom-centre of their box lies in (or on the top edge of)
 * the box of a road user nearer the camera (lower feet or wheels, on the same ground), or on the
 * picture's bottom edge.
 */
function bottomHidden(
  p: Track,
  byLeft: readonly Track[],
  widest: number,
  exclude: UserState,
  sceneHeight: number,
): boolean {
  const x = (p.box.x1 + p.box.x2) / 2;
  const y = p.box.y2;
  if (sceneHeight > 0 && y >= sceneHeight - 1) return true;
  const below = y + EDGE_TOLERANCE * (p.box.y2 - p.box.y1);
  // only boxes whose left edge lies within the widest box's width left of x can cover it
  let lo = 0;
  let hi = byLeft.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((byLeft[mid] as Track).box.x1 < x - widest) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < byLeft.length; i++) {
    const o = byLeft[i] as Track;
    if (o.box.x1 >= x) break;
    if (o === p || o.box.y2 <= y || o.box.y1 > below || o.box.x1 >= x || o.box.x2 <= x) continue;
    // the two-wheeler a person rides (or may ride) lies under them, it does not hide them
    if (o.id === exclude.partner || exclude.evidence.has(o.id)) continue;
    return true;
  }
  return false;
}

const byLeftEdge = (a: Track, b: Track) => a.box.x1 - b.box.x1;

/** Geometry of a person on a two-wheeler: centred over it, head above it, feet not below its wheels. */
function looksRiding(p: Box, b: Box): boolean {
  const bw = b.x2 - b.x1;
  const bh = b.y2 - b.y1;
  const pcx = (p.x1 + p.x2) / 2;
  const bcx = (b.x1 + b.x2) / 2;
  return Math.abs(pcx - bcx) < 0.3 * bw && p.y1 < b.y1 && p.y2 > b.y1 + 0.3 * bh && p.y2 < b.y2 + 0.15 * bh;
}

/** A person beside a two-wheeler they push: overlapping or touching horizontally, feet on the same ground. */
function looksWalkingBeside(p: Box, b: Box): boolean {
  const bw = b.x2 - b.x1;
  const bh = b.y2 - b.y1;
  const gap = Math.max(p.x1 - b.x2, b.x1 - p.x2);
  return gap < 0.25 * bw && Math.abs(p.y2 - b.y2) < 0.35 * bh;
}

function movingTogether(a: Track, b: Track): boolean {
  const h = Math.max(1, b.box.y2 - b.box.y1);
  const dv = Math.hypot(a.velocity.x - b.velocity.x, a.velocity.y - b.velocity.y);
  return dv < Math.max(0.5 * Math.hypot(b.velocity.x, b.velocity.y), 0.3 * h);
}

/**
 * Turns tracks into road users with a mode of travel. COCO detectors see a cyclist as a person plus a
 * bicycle; a person that moves with a bicycle (or motorcycle) over several frames becomes one cyclist
 * (motorcyclist) and the two-wheeler track is absorbed, never counted on its own. A parked two-wheeler
 * is not a road user. Walking a bicycle keeps the person a pedestrian. A person's box is handed on
 * whole when an occluder or the picture's edge cuts it from below (`CutFromBelow`).
 */
export class ModeOfTravel {
  private readonly states = new Map<number, UserState>();
  private readonly out: RoadUser[] = [];
  private readonly cutFromBelow = new CutFromBelow();
  private readonly persons: Track[] = [];
  private readonly wheels: Track[] = [];
  private readonly seen: Track[] = [];
  /** People seen in the last frame, and how many of them had their feet hidden by someone nearer. */
  peopleSeen = 0;
  feetHidden = 0;
  /** Riders seen with their two-wheeler, per label, since start (faded past `MAX_RIDERS`). */
  private readonly ridden = new Map<string, number>();

  constructor(readonly options: ModeOptions = DEFAULT_MODE_OPTIONS) {}

  /** `sceneHeight`: the picture's height in box pixels (its bottom edge hides feet); 0 if unknown. */
  update(u: TrackUpdate, sceneHeight = 0): readonly RoadUser[] {
    for (const t of u.removed) this.forget(t.id);
    const persons = this.persons;
    const wheels = this.wheels;
    const seen = this.seen;
    persons.length = 0;
    wheels.length = 0;
    seen.length = 0;
    let widest = 0;
    for (const t of u.tracks) {
      if (t.lastSeenMs !== u.tsMs) continue;
      seen.push(t);
      widest = Math.max(widest, t.box.x2 - t.box.x1);
      if (isPerson(t.category)) persons.push(t);
      else if (isTwoWheeler(t.category)) wheels.push(t);
    }
    if (persons.length > 0) seen.sort(byLeftEdge);
    for (const p of persons) {
      const ps = this.stateOf(p);
      for (const b of wheels) {
        const bs = this.stateOf(b);
        if (bs.partner !== undefined && bs.partner !== p.id) continue;
        const moving = speedInHeights(b) >= this.options.parkedSpeed;
        const together = moving && movingTogether(p, b);
        const riding = together && looksRiding(p.box, b.box);
        const beside = together && !riding && looksWalkingBeside(p.box, b.box);
        const before = ps.evidence.get(b.id) ?? 0;
        const now = riding || beside ? before + 1 : Math.max(0, before - 1);
        if (now === 0) ps.evidence.delete(b.id);
        else ps.evidence.set(b.id, now);
        if (ps.partner === undefined && now >= this.options.riderFrames && bs.partner === undefined) {
          ps.partner = b.id;
          ps.riding = riding;
          bs.partner = p.id;
          // seen riding: a rider when this two-wheeler is hidden later; walking it: a pedestrian
          ps.rode = riding ? b.category : "";
          if (riding) this.sawRidden(b.category);
        } else if (ps.partner === b.id && now === 0) {
          ps.partner = undefined;
          bs.partner = undefined;
        }
      }
    }

    this.out.length = 0;
    this.peopleSeen = persons.length;
    this.feetHidden = 0;
    for (const t of u.tracks) {
      const s = this.stateOf(t);
      const user = s.user;
      user.confirmed = t.state === "confirmed" || t.state === "lost";
      user.seen = t.lastSeenMs === u.tsMs;
      // counted by where the feet are, also when an occluder or the picture's edge hides them
      if (isPerson(t.category)) {
        const hidden = user.seen && bottomHidden(t, seen, widest, s, sceneHeight);
        if (hidden) this.feetHidden++;
        user.box = this.cutFromBelow.restore(t.id, t.box, u.tsMs, user.seen, hidden);
        user.estimated = this.cutFromBelow.estimated;
        if (user.seen) this.measureSpeed(s, t, user.box, u.tsMs);
      } else {
        user.box = t.box;
        user.estimated = false;
      }
      if (isTwoWheeler(t.category)) {
        // Absorbed by its rider or walker, parked, or possibly someone's bike not yet fused: not counted.
        if (
          s.partner !== undefined ||
          speedInHeights(t) < this.options.parkedSpeed ||
          this.hasPendingRider(t.id)
        )
          continue;
      }
      if (isPerson(t.category) && s.partner !== undefined && s.riding) {
        const partner = u.tracks.find((x) => x.id === s.partner);
        // a rider travels as their two-wheeler does (cyclist, motorcyclist), whatever `modeOf` renames
        user.mode =
          (partner && (this.options.modeOf[partner.category] ?? DEFAULT_MODE_OF[partner.category])) ??
          this.options.modeOf[t.category] ??
          t.category;
      } else if (isPerson(t.category) && s.rode !== "") {
        // seen riding (with a two-wheeler now out of sight, or at riding speed): still a rider
        const label = s.rode === RIDES_UNSEEN ? this.likelyTwoWheeler() : s.rode;
        user.mode = this.options.modeOf[label] ?? DEFAULT_MODE_OF[label] ?? label;
      } else {
        user.mode = this.options.modeOf[t.category] ?? t.category;
      }
      this.out.push(user);
    }
    return this.out;
  }

  /**
   * A person at riding speed for `RIDING_MS` rides, whether or not a two-wheeler is seen under them
   * (hidden by the rider in front, or missed by the detector): nobody walks that fast. Measured in
   * their own heights per second, so it needs no calibration of the camera. Once a rider, the track
   * stays one (a cyclist waiting at a light is not a pedestrian).
   */
  private measureSpeed(s: UserState, t: Track, box: Box, tsMs: number): void {
    const dt = Number.isNaN(s.lastMs) ? 0 : tsMs - s.lastMs;
    s.lastMs = tsMs;
    if (s.rode !== "" || s.partner !== undefined || this.options.riderSpeed <= 0) return;
    const fast = speedInHeights(t, box) >= this.options.riderSpeed;
    s.fastMs = fast ? s.fastMs + dt : Math.max(0, s.fastMs - dt);
    if (s.fastMs >= RIDING_MS) s.rode = RIDES_UNSEEN;
  }

  /**
   * What a rider seen without their two-wheeler most likely rides: the prior (`motorcycleShare`)
   * weighed as `PRIOR_RIDERS` riders, plus the riders seen here with theirs.
   */
  private likelyTwoWheeler(): string {
    const share = this.options.motorcycleShare;
    const motorcycles = share * PRIOR_RIDERS + (this.ridden.get("motorcycle") ?? 0);
    const bicycles = (1 - share) * PRIOR_RIDERS + (this.ridden.get("bicycle") ?? 0);
    return motorcycles > bicycles ? "motorcycle" : "bicycle";
  }

  private sawRidden(label: string): void {
    this.ridden.set(label, (this.ridden.get(label) ?? 0) + 1);
    let total = 0;
    for (const n of this.ridden.values()) total += n;
    if (total > MAX_RIDERS) for (const [k, n] of this.ridden) this.ridden.set(k, n / 2);
  }

  private hasPendingRider(wheelId: number): boolean {
    for (const s of this.states.values()) if ((s.evidence.get(wheelId) ?? 0) > 0) return true;
    return false;
  }

  private stateOf(t: Track): UserState {
    let s = this.states.get(t.id);
    if (!s) {
      s = {
        user: {
          trackId: t.id,
          box: t.box,
          mode: "",
          confirmed: false,
          seen: true,
          origin: t.origin,
          estimated: false,
        },
        evidence: new Map(),
        partner: undefined,
        riding: false,
        rode: "",
        fastMs: 0,
        lastMs: Number.NaN,
      };
      this.states.set(t.id, s);
    }
    return s;
  }

  private forget(id: number): void {
    const s = this.states.get(id);
    if (!s) return;
    if (s.partner !== undefined) {
      const other = this.states.get(s.partner);
      if (other && other.partner === id) other.partner = undefined;
    }
    for (const other of this.states.values()) other.evidence.delete(id);
    this.states.delete(id);
    this.cutFromBelow.forget(id);
  }

  /** Tracks with state held (for memory-bound tests); a person's shape is freed with their state. */
  get size(): number {
    return Math.max(this.states.size, this.cutFromBelow.size);
  }
}
