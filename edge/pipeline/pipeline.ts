import { type AggregatorOptions, IntervalAggregator } from "../aggregate/aggregator.ts";
import type { Config } from "../config/schema.ts";
import {
  DEFAULT_LINE_OPTIONS,
  LineCounter,
  type LineCounterOptions,
  type LineSpec,
} from "../count/line-counter.ts";
import {
  DEFAULT_ZONE_OPTIONS,
  ZoneCounter,
  type ZoneCounterOptions,
  type ZoneSpec,
} from "../count/zone-counter.ts";
import type { Anchor } from "../domain/geometry.ts";
import type { Crossing, Detection, IntervalCounts, Mode, RoadUser, ZoneEvent } from "../domain/types.ts";
import type { SceneFlags } from "../scene/scene-check.ts";
import { ByteTracker, DEFAULT_TRACKER_OPTIONS, type TrackerOptions } from "../track/byte-tracker.ts";
import { DEFAULT_MODE_OPTIONS, ModeOfTravel, type ModeOptions } from "../track/mode-of-travel.ts";

type RelativePoints = readonly (readonly [number, number])[];

/** A counting line in relative coordinates (0..1), as in the device configuration. */
export interface RelativeLine {
  readonly name: string;
  readonly points: RelativePoints;
  readonly from: string;
  readonly to: string;
}

export interface RelativeZone {
  readonly name: string;
  readonly polygon: RelativePoints;
  readonly dwellThresholdSec: number;
}

/** Lines and zones as configured: relative 0..1 coordinates, independent of the frame size. */
export interface Geometry {
  readonly lines: readonly RelativeLine[];
  readonly zones: readonly RelativeZone[];
  /** The point of each box that crosses lines and is inside zones (default: the options'). */
  readonly anchor?: Anchor;
}

export interface PipelineOptions {
  readonly tracker: TrackerOptions;
  readonly modes: ModeOptions;
  readonly line: LineCounterOptions;
  readonly zone: ZoneCounterOptions;
  readonly aggregation: Omit<AggregatorOptions, "lines" | "zones">;
}

/** What one frame produced. Owned by the pipeline and overwritten by the next `step`. */
export interface FrameResult {
  /** Road users after this frame (live positions; never leave the process). */
  readonly users: readonly RoadUser[];
  /** Crossings of the lines counted into intervals. */
  readonly crossings: readonly Crossing[];
  /**
   * Crossings of the lines as last saved, for the set-up page: the same as `crossings` unless a
   * saved geometry waits for the next interval (`replaceGeometry`).
   */
  readonly savedLineCrossings: readonly Crossing[];
  readonly zoneEvents: readonly ZoneEvent[];
  /** Road users inside each zone after this frame, per mode. */
  readonly occupancy: ReadonlyMap<string, ReadonlyMap<Mode, number>>;
  /** Intervals this frame closed, oldest first. */
  readonly intervals: readonly IntervalCounts[];
  /** Tentative, confirmed and lost tracks. */
  readonly activeTracks: number;
  /** People seen in this frame, and how many of them had their feet hidden by someone nearer (or the picture's edge). */
  readonly peopleSeen: number;
  readonly feetHidden: number;
}

/**
 * A frame is crowded when at least this share of the people seen have their feet hidden by someone
 * nearer, and at least `CROWD_MIN_PEOPLE` are seen: tracking people through one another then loses
 * and swaps identities, and counts of people run low (docs/accuracy.md, dense crowds).
 */
export const CROWDED_SHARE = 0.15;
export const CROWD_MIN_PEOPLE = 4;

/** The frame's time and the size of the scene its detections' boxes refer to. */
export interface FrameInfo {
  readonly tsMs: number;
  readonly width: number;
  readonly height: number;
}

export function toLineSpec(line: RelativeLine, width: number, height: number): LineSpec {
  return { name: line.name, from: line.from, to: line.to, points: toPixels(line.points, width, height) };
}

export function toZoneSpec(zone: RelativeZone, width: number, height: number): ZoneSpec {
  return {
    name: zone.name,
    dwellThresholdSec: zone.dwellThresholdSec,
    polygon: toPixels(zone.polygon, width, height),
  };
}

function toPixels(points: RelativePoints, width: number, height: number) {
  return points.map(([x, y]) => ({ x: x * width, y: y * height }));
}

/** The modes every interval reports, with zeros: the configured ones. */
export function reportedModes(config: Config): Mode[] {
  return [...new Set(Object.values(config.counting.modes))];
}

/** Aggregation settings of a device configuration (also used by `simulate`). */
export function aggregationOptionsFrom(config: Config): PipelineOptions["aggregation"] {
  return {
    deviceId: config.device.id,
    periodSec: config.aggregation.periodSec,
    minDwellVisitors: config.privacy.minDwellVisitors,
    modes: reportedModes(config),
    // a gap of three frames, at least 2 s, is a stall, not observed time
    maxFrameGapSec: Math.max(2, 3 / config.camera.fps),
  };
}

/** Bicycle and motorcycle weighed by how common each is among two-wheelers where the device stands. */
export function twoWheelerPrior(motorcycleShare: number): Readonly<Record<string, number>> {
  return { bicycle: 1 - motorcycleShare, motorcycle: motorcycleShare };
}

/** The one place a device configuration becomes stage options. */
export function pipelineOptionsFrom(config: Config): PipelineOptions {
  const c = config.counting;
  return {
    tracker: {
      ...DEFAULT_TRACKER_OPTIONS,
      lostBufferSec: config.tracker.lostBufferSec,
      minHits: config.tracker.minHits,
      classPrior: twoWheelerPrior(c.motorcycleShare),
    },
    modes: {
      ...DEFAULT_MODE_OPTIONS,
      modeOf: c.modes,
      riderSpeed: c.riderSpeed,
      motorcycleShare: c.motorcycleShare,
    },
    line: {
      ...DEFAULT_LINE_OPTIONS,
      anchor: c.anchor,
      minDistance: c.minCrossingDistance,
      minSideSec: c.minCrossingSec,
    },
    zone: { ...DEFAULT_ZONE_OPTIONS, anchor: c.anchor },
    aggregation: aggregationOptionsFrom(config),
  };
}

/**
 * The counting core, pure: detections of one frame in, crossings, zone events and closed intervals
 * out. tracker -> mode of travel -> line and zone counters -> interval aggregator. No I/O, no
 * timers, no clock: time comes with the frames (and with `flush` for the live wall clock).
 * Lines and zones are turned into pixels once per frame size, and can be replaced while running:
 * the tracker keeps its tracks, and the new lines and zones are counted into intervals from the next
 * interval on (`replaceGeometry`).
 */
export class Pipeline {
  private readonly tracker: ByteTracker;
  private readonly modes: ModeOfTravel;
  private geometry: Geometry;
  private anchor: Anchor;
  private lineCounters: LineCounter[] = [];
  private zoneCounters: ZoneCounter[] = [];
  /** A geometry saved while an interval was in progress: counted live, into intervals from the next one. */
  private waiting:
    | { geometry: Geometry; anchor: Anchor; lineCounters: LineCounter[]; zoneCounters: ZoneCounter[] }
    | undefined;
  private readonly waitingCrossings: Crossing[] = [];
  private sizedFor = { width: 0, height: 0 };
  private aggregator: IntervalAggregator | undefined;
  private readonly removedIds: number[] = [];
  private readonly crossings: Crossing[] = [];
  private readonly zoneEvents: ZoneEvent[] = [];
  private readonly occupancy = new Map<string, ReadonlyMap<Mode, number>>();
  private readonly closed: IntervalCounts[] = [];
  private readonly result: {
    users: readonly RoadUser[];
    crossings: readonly Crossing[];
    savedLineCrossings: readonly Crossing[];
    zoneEvents: readonly ZoneEvent[];
    occupancy: ReadonlyMap<string, ReadonlyMap<Mode, number>>;
    intervals: readonly IntervalCounts[];
    activeTracks: number;
    peopleSeen: number;
    feetHidden: number;
  };
  private lastTsMs: number | undefined;

  constructor(
    private readonly options: PipelineOptions,
    geometry: Geometry,
  ) {
    this.tracker = new ByteTracker(options.tracker);
    this.modes = new ModeOfTravel(options.modes);
    this.geometry = geometry;
    this.anchor = geometry.anchor ?? options.line.anchor;
    this.result = {
      users: [],
      crossings: this.crossings,
      savedLineCrossings: this.crossings,
      zoneEvents: this.zoneEvents,
      occupancy: this.occupancy,
      intervals: this.closed,
      activeTracks: 0,
      peopleSeen: 0,
      feetHidden: 0,
    };
  }

  static fromConfig(config: Config): Pipeline {
    return new Pipeline(pipelineOptionsFrom(config), config);
  }

  /** Starts the first interval at `startMs` (else at the first frame). */
  begin(startMs: number): void {
    if (!this.aggregator) this.aggregator = this.newAggregator(startMs);
  }

  get started(): boolean {
    return this.aggregator !== undefined;
  }

  /** One frame's detections; `scene`: the states the scene check raised with it (0: it sees). */
  step(frame: FrameInfo, detections: readonly Detection[], scene: SceneFlags = 0): FrameResult {
    const agg = this.aggregatorAt(frame.tsMs);
    // the intervals this frame ends close first: a waiting geometry counts from the next one on
    const closedBefore = this.closeDue(frame.tsMs);
    if (frame.width !== this.sizedFor.width || frame.height !== this.sizedFor.height) {
      this.sizedFor = { width: frame.width, height: frame.height };
      this.buildCounters();
    }
    const update = this.tracker.update(detections, frame.tsMs);
    const users = this.modes.update(update, frame.height);
    this.removedIds.length = 0;
    for (const r of update.removed) this.removedIds.push(r.id);
    this.crossings.length = 0;
    for (const l of this.lineCounters)
      for (const x of l.update(users, frame.tsMs, this.removedIds)) this.crossings.push(x);
    this.waitingCrossings.length = 0;
    if (this.waiting) {
      for (const l of this.waiting.lineCounters)
        for (const x of l.update(users, frame.tsMs, this.removedIds)) this.waitingCrossings.push(x);
      for (const z of this.waiting.zoneCounters) z.update(users, frame.tsMs, this.removedIds);
    }
    this.result.savedLineCrossings = this.waiting ? this.waitingCrossings : this.crossings;
    this.zoneEvents.length = 0;
    this.occupancy.clear();
    for (const z of this.zoneCounters) {
      for (const e of z.update(users, frame.tsMs, this.removedIds)) this.zoneEvents.push(e);
      this.occupancy.set(z.zone.name, z.occupancy());
    }
    this.setClosed(closedBefore);
    for (const iv of agg.addFrame(frame.tsMs, this.crossings, this.zoneEvents, this.occupancy, scene))
      this.closed.push(iv);
    const people = this.modes.peopleSeen;
    const hidden = this.modes.feetHidden;
    if (people >= CROWD_MIN_PEOPLE && hidden >= CROWDED_SHARE * people && this.lastTsMs !== undefined) {
      const gap = frame.tsMs - this.lastTsMs;
      if (gap > 0 && gap <= this.options.aggregation.maxFrameGapSec * 1000) agg.addCrowded(gap);
    }
    this.lastTsMs = frame.tsMs;
    this.result.users = users;
    this.result.activeTracks = update.tracks.length;
    this.result.peopleSeen = people;
    this.result.feetHidden = hidden;
    return this.result;
  }

  /**
   * Replaces lines and zones while running (set-up). Before the first interval they apply at once.
   * Otherwise they are counted from `tsMs` on for the page (`savedLineCrossings`) but into intervals
   * only from the next interval on, which carries `quality.geometryChanged`; the interval in
   * progress ends as it began, with the lines and zones it started with. So every published count
   * covers its line's whole interval: no save, however frequent, publishes a line counted for part
   * of one (privacy's minimum period), and a message holds one geometry's lines, never several
   * saves' worth. A second save before the boundary replaces the first. Tracks are kept; lines and
   * zones left as they were keep their counting state.
   */
  replaceGeometry(geometry: Geometry, tsMs: number): IntervalCounts[] {
    const anchor = geometry.anchor ?? this.waiting?.anchor ?? this.anchor;
    if (!this.aggregator) {
      this.adopt(geometry, anchor);
      return [];
    }
    const closed = this.closeDue(tsMs);
    const carried = this.waiting ?? this.counted();
    const lines = carried.anchor === anchor ? carried.lineCounters : [];
    const zones = carried.anchor === anchor ? carried.zoneCounters : [];
    this.waiting = { geometry, anchor, lineCounters: lines, zoneCounters: zones };
    if (this.sizedFor.width > 0) this.buildCounters();
    return closed;
  }

  /** The lines and zones as last saved (counted into intervals now, or from the next one), and their anchor. */
  get currentGeometry(): Geometry & { readonly anchor: Anchor } {
    const g = this.waiting ?? this.counted();
    return { lines: g.geometry.lines, zones: g.geometry.zones, anchor: g.anchor };
  }

  /** The geometry counted into intervals now, with its counters. */
  private counted(): NonNullable<Pipeline["waiting"]> {
    return {
      geometry: this.geometry,
      anchor: this.anchor,
      lineCounters: this.lineCounters,
      zoneCounters: this.zoneCounters,
    };
  }

  /** Closes the intervals due at `tsMs`; from the first boundary on, a waiting geometry is the one counted. */
  private closeDue(tsMs: number): IntervalCounts[] {
    const agg = this.aggregator;
    if (!agg) return [];
    const next = this.waiting;
    if (!next) return agg.flush(tsMs);
    const closed = agg.flush(Math.min(tsMs, agg.currentEndMs));
    if (closed.length === 0) return closed;
    this.waiting = undefined;
    this.geometry = next.geometry;
    this.anchor = next.anchor;
    this.lineCounters = next.lineCounters;
    this.zoneCounters = next.zoneCounters;
    agg.replaceGeometry(next.geometry.lines, next.geometry.zones);
    for (const iv of agg.flush(tsMs)) closed.push(iv);
    return closed;
  }

  /** Lines and zones counted at once (before the first interval), counters kept where unchanged. */
  private adopt(geometry: Geometry, anchor: Anchor): void {
    this.geometry = geometry;
    if (anchor !== this.anchor) {
      // another point of the box counts now: no counter's state carries over
      this.anchor = anchor;
      this.lineCounters = [];
      this.zoneCounters = [];
    }
    if (this.sizedFor.width > 0) this.buildCounters();
  }

  /** Live wall clock: closes the intervals due at `nowMs` even when no frame arrives. */
  flush(nowMs: number): IntervalCounts[] {
    return this.closeDue(nowMs);
  }

  /** The interval in progress, as observed so far (for power-loss checkpoints). */
  snapshot(nowMs: number): IntervalCounts | undefined {
    return this.aggregator?.snapshot(nowMs);
  }

  /** Observation ends at `endMs`: the intervals due and the open one (partial). */
  close(endMs: number): IntervalCounts[] {
    const closed = this.closeDue(endMs);
    for (const iv of this.aggregator?.close(endMs) ?? []) closed.push(iv);
    return closed;
  }

  cameraChanged(up: boolean, tsMs: number): IntervalCounts[] {
    const closed = this.closeDue(tsMs);
    for (const iv of this.aggregator?.cameraChanged(up, tsMs) ?? []) closed.push(iv);
    return closed;
  }

  addDroppedFrames(n: number, tsMs: number): void {
    this.aggregatorAt(tsMs).addDroppedFrames(n);
  }

  addCorruptFrames(n: number, tsMs: number): void {
    this.aggregatorAt(tsMs).addCorruptFrames(n);
  }

  /** Time of the last frame stepped, if any. */
  get lastFrameMs(): number | undefined {
    return this.lastTsMs;
  }

  private aggregatorAt(tsMs: number): IntervalAggregator {
    if (!this.aggregator) this.aggregator = this.newAggregator(tsMs);
    return this.aggregator;
  }

  private newAggregator(startMs: number): IntervalAggregator {
    return new IntervalAggregator(
      { ...this.options.aggregation, lines: this.geometry.lines, zones: this.geometry.zones },
      startMs,
    );
  }

  /** Counters for the geometry counted and the one waiting, in pixels of the current frame size. */
  private buildCounters(): void {
    const built = this.countersFor(this.geometry, this.anchor, this.lineCounters, this.zoneCounters);
    this.lineCounters = built.lines;
    this.zoneCounters = built.zones;
    const w = this.waiting;
    if (w) {
      // a line or zone the waiting geometry keeps as it is counts on with the same counter
      const next = this.countersFor(
        w.geometry,
        w.anchor,
        [...w.lineCounters, ...(w.anchor === this.anchor ? this.lineCounters : [])],
        [...w.zoneCounters, ...(w.anchor === this.anchor ? this.zoneCounters : [])],
      );
      w.lineCounters = next.lines;
      w.zoneCounters = next.zones;
    }
  }

  /** Counters for `geometry`; one whose line or zone is among `lines`/`zones` unchanged is kept. */
  private countersFor(
    geometry: Geometry,
    anchor: Anchor,
    lines: readonly LineCounter[],
    zones: readonly ZoneCounter[],
  ): { lines: LineCounter[]; zones: ZoneCounter[] } {
    const { width, height } = this.sizedFor;
    const lineByShape = new Map(lines.map((c) => [JSON.stringify(c.line), c]));
    const zoneByShape = new Map(zones.map((c) => [JSON.stringify(c.zone), c]));
    return {
      lines: geometry.lines.map((l) => {
        const spec = toLineSpec(l, width, height);
        return (
          lineByShape.get(JSON.stringify(spec)) ?? new LineCounter(spec, { ...this.options.line, anchor })
        );
      }),
      zones: geometry.zones.map((z) => {
        const spec = toZoneSpec(z, width, height);
        return (
          zoneByShape.get(JSON.stringify(spec)) ?? new ZoneCounter(spec, { ...this.options.zone, anchor })
        );
      }),
    };
  }

  private setClosed(intervals: readonly IntervalCounts[]): void {
    this.closed.length = 0;
    for (const iv of intervals) this.closed.push(iv);
  }
}
