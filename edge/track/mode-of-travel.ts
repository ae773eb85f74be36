import { DEFAULT_MODE_OF, isPerson, isTwoWheeler } from "../domain/classes.ts";
import type { Box, Mode, RoadUser, Track, TrackUpdate } from "../domain/types.ts";
import { CutFromBelow } from "./cut-from-below.ts";

export interface ModeOptions {
  /** Mode per detector label for tracks that are not fused; e.g. map car, truck and bus to "vehicle". */
  readonly modeOf: Readonly<Record<string, Mode>>;
  /** Frames of riding-like co-movement needed before a person and a two-wheeler are fused. */
  readonly riderFrames: number;
  /** A two-wheeler slower than this many of its own box heights per second is parked. */
  readonly parkedSpeed: number;
}

export const DEFAULT_MODE_OPTIONS: ModeOptions = {
  modeOf: DEFAULT_MODE_OF,
  riderFrames: 3,
  parkedSpeed: 0.15,
};

interface UserState {
  /** The road user handed on, updated in place every frame. */
  readonly user: { -readonly [K in keyof RoadUser]-?: RoadUser[K] };
  /** Person: evidence of riding per two-wheeler track. */
  evidence: Map<number, number>;
  /** Person: the two-wheeler it rides. Two-wheeler: the person riding or walking it. */
  partner: number | undefined;
  /** Person: whether the partner is ridden (true) or walked beside (false). */
  riding: boolean;
}

function speedInHeights(t: Track): number {
  const h = Math.max(1, t.box.y2 - t.box.y1);
  return Math.hypot(t.velocity.x, t.velocity.y) / h;
}

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

  constructor(readonly options: ModeOptions = DEFAULT_MODE_OPTIONS) {}

  update(u: TrackUpdate): readonly RoadUser[] {
    for (const t of u.removed) this.forget(t.id);
    const persons: Track[] = [];
    const wheels: Track[] = [];
    for (const t of u.tracks) {
      if (t.lastSeenMs !== u.tsMs) continue;
      if (isPerson(t.category)) persons.push(t);
      else if (isTwoWheeler(t.category)) wheels.push(t);
    }
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
        } else if (ps.partner === b.id && now === 0) {
          ps.partner = undefined;
          bs.partner = undefined;
        }
      }
    }

    this.out.length = 0;
    for (const t of u.tracks) {
      const s = this.stateOf(t);
      const user = s.user;
      user.confirmed = t.state === "confirmed" || t.state === "lost";
      user.seen = t.lastSeenMs === u.tsMs;
      // counted by where the feet are, also when an occluder or the picture's edge hides them
      user.box = isPerson(t.category) ? this.cutFromBelow.restore(t.id, t.box, u.tsMs, user.seen) : t.box;
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
      } else {
        user.mode = this.options.modeOf[t.category] ?? t.category;
      }
      this.out.push(user);
    }
    return this.out;
  }

  private hasPendingRider(wheelId: number): boolean {
    for (const s of this.states.values()) if ((s.evidence.get(wheelId) ?? 0) > 0) return true;
    return false;
  }

  private stateOf(t: Track): UserState {
    let s = this.states.get(t.id);
    if (!s) {
      s = {
        user: { trackId: t.id, box: t.box, mode: "", confirmed: false, seen: true, origin: t.origin },
        evidence: new Map(),
        partner: undefined,
        riding: false,
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
