import { type Anchor, anchorPoint, pointInPolygon } from "../domain/geometry.ts";
import type { Mode, Point, RoadUser, ZoneEvent } from "../domain/types.ts";
import { type PerTrack, TrackStates } from "./track-states.ts";

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

interface TrackZoneState extends PerTrack {
  inside: boolean;
  /** Consecutive frames observed on the other side of the boundary than `inside` says. */
  streak: number;
  enteredMs: number;
  lastSeenMs: number;
  mode: Mode;
  lastX: number;
  lastY: number;
  /** Entry reported (only confirmed tracks are reported). */
  reported: boolean;
}

/**
 * Occupancy, entries, exits and dwell for one polygon zone. Visitors leaving after at least the
 * zone's dwell threshold count as staying, the others as passing through. A track that ends inside
 * leaves at the time it was last seen.
 */
export class ZoneCounter {
  private readonly states: TrackStates<TrackZoneState>;
  private readonly ended: TrackZoneState[] = [];
  private readonly events: ZoneEvent[] = [];
  private readonly occupancyByMode = new Map<Mode, number>();

  constructor(
    readonly zone: ZoneSpec,
    readonly options: ZoneCounterOptions = DEFAULT_ZONE_OPTIONS,
  ) {
    if (zone.polygon.length < 3) throw new Error(`zone ${zone.name}: needs at least 3 points`);
    this.states = new TrackStates(options.handoverWindowSec * 1000, options.handoverRadius);
  }

  update(users: readonly RoadUser[], tsMs: number, removedIds: readonly number[] = []): readonly ZoneEvent[] {
    this.events.length = 0;
    // An ended track that no successor takes over left when it was last seen.
    for (const id of removedIds) {
      const s = this.states.end(id);
      if (s?.inside && s.reported) this.exit(s, s.lastSeenMs);
    }
    for (const u of users) {
      if (!u.seen) {
        const s = this.states.get(u.trackId);
        const p = anchorPoint(u.box, this.options.anchor);
        const height = Math.max(1, u.box.y2 - u.box.y1);
        this.states.lost(u.trackId, p.x, p.y, height, u.mode, s?.inside === true, tsMs);
        continue;
      }
      const a = anchorPoint(u.box, this.options.anchor);
      const inside = pointInPolygon(this.zone.polygon, a.x, a.y);
      let s = this.states.seen(u.trackId);
      if (!s) {
        const height = Math.max(1, u.box.y2 - u.box.y1);
        // An ID switch inside the zone: the same visitor, not a new entry.
        s = inside
          ? this.states.takeOver(
              u.trackId,
              { x: a.x, y: a.y, height, mode: u.mode },
              this.options.handoverRadius * height,
              tsMs,
            )
          : undefined;
        if (!s) {
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
          this.states.set(u.trackId, s);
        }
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
    this.ended.length = 0;
    this.states.expire(tsMs, this.ended);
    for (const s of this.ended) if (s.inside && s.reported) this.exit(s, s.lastSeenMs);
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
    return this.states.size;
  }
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}
