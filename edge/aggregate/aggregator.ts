import { percentile } from "../count/zone-counter.ts";
import type { Crossing, IntervalCounts, LineCount, Mode, ZoneCount, ZoneEvent } from "../domain/types.ts";
import { SCENE_STATES, type SceneFlags } from "../scene/scene-check.ts";

export interface AggregatorOptions {
  readonly deviceId: string;
  readonly periodSec: number;
  readonly lines: readonly { readonly name: string; readonly from: string; readonly to: string }[];
  readonly zones: readonly { readonly name: string }[];
  /** Modes reported for every line and zone, with zeros, so a missing row never has to be guessed. */
  readonly modes: readonly Mode[];
  /** A gap between frames longer than this is not counted as observed time (the camera stalled). */
  readonly maxFrameGapSec: number;
  /** Dwell percentiles only from at least this many visitors (default 5); null below. */
  readonly minDwellVisitors?: number;
}

export const DEFAULT_MIN_DWELL_VISITORS = 5;

interface ZoneAccumulator {
  entries: number;
  exits: number;
  staying: number;
  passing: number;
  dwells: number[];
  occupancyTimeSum: number;
  occupancyMax: number;
}

interface Interval {
  readonly startMs: number;
  readonly endMs: number;
  partial: boolean;
  /** Observed time, blind or not. */
  coverageMs: number;
  /** Observed time during which the scene check found the view unusable. */
  blindMs: number;
  /** Observed time in each scene state (SCENE_STATES order). */
  readonly sceneMs: number[];
  frames: number;
  dropped: number;
  corrupt: number;
  cameraChanges: number;
  cameraDownMs: number;
  geometryChanged: boolean;
  /** Observed time in crowded frames, and crossings counted on an estimated ground point. */
  crowdedMs: number;
  estimatedCrossings: number;
  readonly lineCounts: Map<string, number>;
  readonly zones: Map<string, ZoneAccumulator>;
}

const lineKey = (line: string, from: string, to: string, mode: Mode) =>
  `${line}\u0000${from}\u0000${to}\u0000${mode}`;
const zoneKey = (zone: string, mode: Mode) => `${zone}\u0000${mode}`;

/**
 * Wall-clock aligned intervals of counts with their quality. Intervals are aligned to multiples of
 * the period since the epoch (a 15-minute interval starts at :00, :15, ...). Nothing per person
 * enters or leaves: crossings and zone events arrive already stripped of track ids.
 */
export class IntervalAggregator {
  private current: Interval;
  private lastFrameMs: number | undefined;
  private cameraUp = true;
  private cameraDownSinceMs = 0;
  /** The scene states of the last frame: the time until the next frame is spent in them. */
  private scene: SceneFlags = 0;
  private readonly periodMs: number;
  /** The lines and zones counted now: every new interval reports each of them, with zeros. */
  private lines: AggregatorOptions["lines"];
  private zones: AggregatorOptions["zones"];

  constructor(
    readonly options: AggregatorOptions,
    /** When observation began: the first interval is partial unless this is its start. */
    startedMs: number,
  ) {
    this.periodMs = options.periodSec * 1000;
    this.lines = options.lines;
    this.zones = options.zones;
    this.current = this.newInterval(this.alignedStart(startedMs));
    this.current.partial = startedMs > this.current.startMs;
  }

  private alignedStart(tsMs: number): number {
    return Math.floor(tsMs / this.periodMs) * this.periodMs;
  }

  private newInterval(startMs: number): Interval {
    return {
      startMs,
      endMs: startMs + this.periodMs,
      partial: false,
      coverageMs: 0,
      blindMs: 0,
      sceneMs: SCENE_STATES.map(() => 0),
      frames: 0,
      dropped: 0,
      corrupt: 0,
      cameraChanges: 0,
      cameraDownMs: 0,
      geometryChanged: false,
      crowdedMs: 0,
      estimatedCrossings: 0,
      lineCounts: new Map(),
      zones: new Map(),
    };
  }

  /** When the interval in progress ends. */
  get currentEndMs(): number {
    return this.current.endMs;
  }

  /** Closes every interval that ended at or before `nowMs` and returns them, oldest first. */
  flush(nowMs: number): IntervalCounts[] {
    const closed: IntervalCounts[] = [];
    while (nowMs >= this.current.endMs) {
      const end = this.current.endMs;
      this.addObserved(end);
      this.addCameraDown(end);
      closed.push(this.finish(this.current));
      this.current = this.newInterval(end);
      if (!this.cameraUp) this.cameraDownSinceMs = end;
    }
    return closed;
  }

  /** Observed time between the previous frame and `tsMs`, up to the stall limit. */
  private addObserved(tsMs: number): number {
    if (this.lastFrameMs === undefined || !this.cameraUp) return 0;
    const gap = tsMs - this.lastFrameMs;
    if (gap <= 0 || gap > this.options.maxFrameGapSec * 1000) return 0;
    const iv = this.current;
    iv.coverageMs += gap;
    if (this.scene !== 0) {
      iv.blindMs += gap;
      for (let s = 0; s < SCENE_STATES.length; s++)
        if (this.scene & (1 << s)) iv.sceneMs[s] = (iv.sceneMs[s] as number) + gap;
    }
    this.lastFrameMs = tsMs;
    return gap;
  }

  private addCameraDown(tsMs: number): void {
    if (this.cameraUp) return;
    this.current.cameraDownMs += Math.max(0, tsMs - this.cameraDownSinceMs);
    this.cameraDownSinceMs = tsMs;
  }

  /**
   * One processed frame: its crossings, zone events, the occupancy of each zone after it and the
   * scene states the scene check raised with it (the time from this frame to the next is spent in
   * them). Returns the intervals this frame closed.
   */
  addFrame(
    tsMs: number,
    crossings: readonly Crossing[],
    zoneEvents: readonly ZoneEvent[],
    occupancy: ReadonlyMap<string, ReadonlyMap<Mode, number>>,
    scene: SceneFlags = 0,
  ): IntervalCounts[] {
    const closed = this.flush(tsMs);
    const prev = this.lastFrameMs;
    // occupancy is weighed by seen time only: while blind, an empty zone says nothing
    const blind = this.scene !== 0;
    const observed = this.addObserved(tsMs);
    const dt = blind ? 0 : observed;
    this.scene = scene;
    if (prev === undefined || observed === 0) this.lastFrameMs = tsMs;
    const iv = this.current;
    iv.frames++;
    for (const c of crossings) {
      const k = lineKey(c.line, c.from, c.to, c.mode);
      iv.lineCounts.set(k, (iv.lineCounts.get(k) ?? 0) + 1);
      if (c.estimated) iv.estimatedCrossings++;
    }
    for (const e of zoneEvents) {
      const z = this.zoneAcc(iv, e.zone, e.mode);
      if (e.kind === "enter") z.entries++;
      else {
        z.exits++;
        if (e.dwellSec !== null) z.dwells.push(e.dwellSec);
        if (e.staying) z.staying++;
        else z.passing++;
      }
    }
    for (const [zone, byMode] of occupancy) {
      for (const [mode, n] of byMode) {
        const z = this.zoneAcc(iv, zone, mode);
        z.occupancyTimeSum += n * dt;
        if (n > z.occupancyMax) z.occupancyMax = n;
      }
    }
    return closed;
  }

  /**
   * The frame just added was crowded: people hid each other's feet so much that tracking them
   * saturates; `ms`, the time since the frame before, is spent crowded.
   */
  addCrowded(ms: number): void {
    this.current.crowdedMs += ms;
  }

  addDroppedFrames(n: number): void {
    this.current.dropped += n;
  }

  addCorruptFrames(n: number): void {
    this.current.corrupt += n;
  }

  /** The camera went down or came back at `tsMs`; down time is not observed time. */
  cameraChanged(up: boolean, tsMs: number): IntervalCounts[] {
    const closed = this.flush(tsMs);
    if (up === this.cameraUp) return closed;
    if (!up) this.addObserved(tsMs);
    this.addCameraDown(tsMs);
    this.cameraUp = up;
    this.cameraDownSinceMs = tsMs;
    this.current.cameraChanges++;
    this.lastFrameMs = undefined;
    return closed;
  }

  /**
   * The interval in progress as observed up to `nowMs` (partial), without closing it: saved now and
   * then so that a crash loses only what came after.
   */
  snapshot(nowMs: number): IntervalCounts {
    const observedTo =
      this.lastFrameMs !== undefined &&
      this.cameraUp &&
      nowMs - this.lastFrameMs <= this.options.maxFrameGapSec * 1000
        ? Math.max(0, nowMs - this.lastFrameMs)
        : 0;
    const iv = this.current;
    const blind = this.scene !== 0;
    const sceneMs = iv.sceneMs.map((ms, s) => (this.scene & (1 << s) ? ms + observedTo : ms));
    const s = this.finish(
      {
        ...iv,
        coverageMs: iv.coverageMs + observedTo,
        blindMs: iv.blindMs + (blind ? observedTo : 0),
        sceneMs,
      },
      Math.min(nowMs, iv.endMs - 1),
    );
    return { ...s, partial: true };
  }

  /**
   * Lines or zones replaced while counting, at the start of the interval in progress (the pipeline
   * applies a saved geometry at an interval boundary): it and every interval after report these,
   * and it is flagged `geometryChanged`.
   */
  replaceGeometry(lines: AggregatorOptions["lines"], zones: AggregatorOptions["zones"]): void {
    this.lines = lines;
    this.zones = zones;
    this.current.geometryChanged = true;
  }

  /** Shutdown: closes the intervals due and the current one as partial at `nowMs`. */
  close(nowMs: number): IntervalCounts[] {
    const closed = this.flush(nowMs);
    this.addObserved(nowMs);
    this.addCameraDown(nowMs);
    if (nowMs > this.current.startMs) {
      this.current.partial = true;
      closed.push(this.finish(this.current, nowMs));
    }
    return closed;
  }

  private zoneAcc(iv: Interval, zone: string, mode: Mode): ZoneAccumulator {
    const k = zoneKey(zone, mode);
    let z = iv.zones.get(k);
    if (!z) {
      z = { entries: 0, exits: 0, staying: 0, passing: 0, dwells: [], occupancyTimeSum: 0, occupancyMax: 0 };
      iv.zones.set(k, z);
    }
    return z;
  }

  private finish(iv: Interval, endMs = iv.endMs): IntervalCounts {
    const modes = [
      ...new Set([...this.options.modes, ...[...iv.lineCounts.keys()].map((k) => k.split("\u0000")[3]!)]),
    ];
    const lines: LineCount[] = [];
    for (const l of this.lines) {
      for (const [from, to] of [
        [l.from, l.to],
        [l.to, l.from],
      ] as const) {
        for (const mode of modes)
          lines.push({
            line: l.name,
            from,
            to,
            mode,
            count: iv.lineCounts.get(lineKey(l.name, from, to, mode)) ?? 0,
          });
      }
    }
    const seenMs = Math.max(0, iv.coverageMs - iv.blindMs);
    const zones: ZoneCount[] = [];
    const minDwell = this.options.minDwellVisitors ?? DEFAULT_MIN_DWELL_VISITORS;
    const round = (v: number) => Math.round(v * 1000) / 1000;
    for (const z of this.zones) {
      for (const mode of modes) {
        const a = iv.zones.get(zoneKey(z.name, mode));
        zones.push({
          zone: z.name,
          mode,
          entries: a?.entries ?? 0,
          exits: a?.exits ?? 0,
          occupancyMean: a && seenMs > 0 ? round(a.occupancyTimeSum / seenMs) : 0,
          occupancyMax: a?.occupancyMax ?? 0,
          staying: a?.staying ?? 0,
          passing: a?.passing ?? 0,
          // small-count suppression: percentiles of a few visitors would describe individuals
          dwellP50Sec: a && a.dwells.length >= minDwell ? round(percentile(a.dwells, 50)) : null,
          dwellP90Sec: a && a.dwells.length >= minDwell ? round(percentile(a.dwells, 90)) : null,
        });
      }
    }
    const observedSec = iv.coverageMs / 1000;
    const sec = (ms: number) => round(ms / 1000);
    const [darkMs = 0, overexposedMs = 0, obscuredMs = 0, frozenMs = 0, movedMs = 0] = iv.sceneMs;
    return {
      deviceId: this.options.deviceId,
      startMs: iv.startMs,
      endMs: iv.endMs,
      partial: iv.partial || endMs < iv.endMs,
      quality: {
        coverageSec: sec(seenMs),
        coverage: Math.min(1, round(seenMs / (iv.endMs - iv.startMs))),
        blindSec: sec(iv.blindMs),
        scene: {
          darkSec: sec(darkMs),
          overexposedSec: sec(overexposedMs),
          obscuredSec: sec(obscuredMs),
          frozenSec: sec(frozenMs),
          movedSec: sec(movedMs),
        },
        framesProcessed: iv.frames,
        meanFps: observedSec > 0 ? round(iv.frames / observedSec) : 0,
        framesDropped: iv.dropped,
        framesCorrupt: iv.corrupt,
        cameraStateChanges: iv.cameraChanges,
        cameraDownSec: round(iv.cameraDownMs / 1000),
        geometryChanged: iv.geometryChanged,
        // only where it happened: most intervals have neither, and older consumers see no change
        ...(iv.crowdedMs > 0 ? { crowdedSec: round(iv.crowdedMs / 1000) } : {}),
        ...(iv.estimatedCrossings > 0 ? { estimatedCrossings: iv.estimatedCrossings } : {}),
      },
      lines,
      zones,
    };
  }
}
