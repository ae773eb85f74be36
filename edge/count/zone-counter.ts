import { type Anchor, anchorPoint, pointInPolygon } from "../domain/geometry.ts";
import type { Mode, Point, RoadUser, ZoneEvent } from "../domain/types.ts";
import { Handover } from "./handover.ts";

export interface ZoneSpec {
  readonly name: string;
  /** In source pixels. */
  readonly polygon: readonly Point[];
  /** Time inside above which a visitor is staying rather than passing through. */
  readonly dwellThresholdSec: number;
}

export interface ZoneCounterOptions {
  readonly anchor: Anchor;
  /** Consecutive frames a track must be inside (or outside) before it enters (or leaves): debounce. */
  readonly inertiaFrames: number;
  readonly handoverRadius: number;
  readonly handoverWindowSec: number;
}

export const DEFAULT_ZONE_OPTIONS: ZoneCounterOptions = {
  anchor: "bottom-center",
  inertiaFrames: 2,
  handoverRadius: 1,
  handoverWindowSec: 3,
};

interface TrackZoneState {
  inside: boolean;
  /** Consecutive frames observed on the other side of the boundary than `inside` says. */
  streak: number;
  enteredMs: number;
  lastSeenMs: number;
  mode: Mode;
  lastX: number;
  lastY: number;
  wasSeen: boolean;
  /** Entry reported (only confirmed tracks are reported). */
  reported: boolean;
}

/**
 * Occupancy, entries, exits and dwell for one polygon zone. Visitors leaving after at least the
 * zone's dwell threshold count as staying, the others as passing through. A track that ends inside
 * leaves at the time it was last seen.
 */
export class ZoneCounter {
  private readonly states = new Map<number, TrackZoneState>();
  private readonly handover: Handover<TrackZoneState>;
  private readonly events: ZoneEvent[] = [];
  private readonly occupancyByMode = new Map<Mode, number>();

  constructor(
    readonly zone: ZoneSpec,
    readonly options: ZoneCounterOptions = DEFAULT_ZONE_OPTIONS,
  ) {
    if (zone.polygon.length < 3) throw new Error(`zone ${zone.name}: needs at least 3 points`);
    this.handover = new Handover(options.handoverWindowSec * 1000);
  }

  update(users: readonly RoadUser[], tsMs: number, removedIds: readonly number[] = []): readonly ZoneEvent[] {
    this.events.length = 0;
    for (const id of removedIds) {
      const s = this.states.get(id);
      // No successor took the visitor over while it was lost: it left when last seen.
      if (s?.inside && s.reported) this.exit(s, s.lastSeenMs);
      this.states.delete(id);
      this.handover.drop(id);
    }
    for (const u of users) {
      let s = this.states.get(u.trackId);
      if (!u.seen) {
        if (s?.wasSeen && s.inside) this.handover.add(u.trackId, s.lastX, s.lastY, u.mode, tsMs, s);
        if (s) s.wasSeen = false;
        continue;
      }
      const a = anchorPoint(u.box, this.options.anchor);
      const inside = pointInPolygon(this.zone.polygon, a.x, a.y);
      if (!s) {
        const height = Math.max(1, u.box.y2 - u.box.y1);
        const taken = inside
          ? this.handover.take(a.x, a.y, u.mode, this.options.handoverRadius * height, tsMs)
          : undefined;
        if (taken) {
          // An ID switch inside the zone: the same visitor, not a new entry.
          this.states.delete(taken.trackId);
          s = taken.state;
          s.wasSeen = true;
        } else {
          s = {
            inside: false,
            streak: 0,
            enteredMs: tsMs,
            lastSeenMs: tsMs,
            mode: u.mode,
            lastX: a.x,
            lastY: a.y,
            wasSeen: true,
            reported: false,
          };
        }
        this.states.set(u.trackId, s);
      } else if (!s.wasSeen) {
        this.handover.drop(u.trackId);
        s.wasSeen = true;
      }
      s.lastX = a.x;
      s.lastY = a.y;
      s.lastSeenMs = tsMs;
      s.mode = u.mode;
      if (inside !== s.inside) {
        s.streak++;
        if (s.streak >= this.options.inertiaFrames) {
          s.inside = inside;
          s.streak = 0;
          if (inside) {
            s.enteredMs = tsMs;
            s.reported = false;
          } else if (s.reported) this.exit(s, tsMs);
        }
      } else s.streak = 0;
      if (s.inside && !s.reported && u.confirmed) {
        s.reported = true;
        this.events.push({
          zone: this.zone.name,
          kind: "enter",
          mode: u.mode,
          tsMs: s.enteredMs,
          dwellSec: null,
          staying: null,
        });
      }
    }
    this.handover.prune(tsMs);
    return this.events;
  }

  /** Road users inside now, per mode (confirmed tracks, including briefly occluded ones). */
  occupancy(): ReadonlyMap<Mode, number> {
    this.occupancyByMode.clear();
    for (const s of this.states.values()) {
      if (s.inside && s.reported)
        this.occupancyByMode.set(s.mode, (this.occupancyByMode.get(s.mode) ?? 0) + 1);
    }
    return this.occupancyByMode;
  }

  private exit(s: TrackZoneState, atMs: number): void {
    const dwellSec = Math.max(0, (atMs - s.enteredMs) / 1000);
    s.reported = false;
    s.inside = false;
    this.events.push({
      zone: this.zone.name,
      kind: "exit",
      mode: s.mode,
      tsMs: atMs,
      dwellSec,
      staying: dwellSec >= this.zone.dwellThresholdSec,
    });
  }

  get size(): number {
    return this.states.size + this.handover.size;
  }
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}
