import { IntervalAggregator } from "../aggregate/aggregator.ts";
import { type CaptureTarget, openCamera } from "../capture/open.ts";
import type { FrameSource, SourceState } from "../capture/source.ts";
import type { Config } from "../config/schema.ts";
import { DEFAULT_LINE_OPTIONS, LineCounter } from "../count/line-counter.ts";
import { DEFAULT_ZONE_OPTIONS, ZoneCounter } from "../count/zone-counter.ts";
import { OnnxDetector } from "../detect/onnx-detector.ts";
import { ImageDecodeError } from "../detect/preprocess.ts";
import type { Crossing, Frame, Mode, ZoneEvent } from "../domain/types.ts";
import { ByteTracker, DEFAULT_TRACKER_OPTIONS } from "../track/byte-tracker.ts";
import { DEFAULT_MODE_OPTIONS, ModeOfTravel } from "../track/mode-of-travel.ts";
import { CountOutput, type LiveStatus } from "./count-output.ts";
import { FrameRate } from "./frame-rate.ts";
import type { Logger } from "./logger.ts";
import { CounterMetrics } from "./metrics.ts";

export interface RuntimeDeps {
  readonly log: Logger;
  readonly version: string;
  /** For tests: a detector already loaded. */
  readonly detector?: OnnxDetector;
  /** For tests: a frame source instead of the configured camera. */
  readonly source?: { readonly source: FrameSource; readonly replay: boolean };
  /** Called after every processed frame (progress displays). */
  readonly onFrame?: (frame: Frame, crossings: readonly Crossing[]) => void;
}

/** What the API and the status message read from the running pipeline. */
export interface RuntimeView {
  readonly config: Config;
  readonly metrics: CounterMetrics;
  readonly output: CountOutput;
  camera(): SourceState | undefined;
  modelLoaded(): string | null;
  processedFps(): number;
  /** Crossings since start, keyed `line:from>to:mode` (aggregates only). */
  totals(): ReadonlyMap<string, number>;
}

/**
 * The composition root of `counter run`: capture -> detect -> track -> count -> aggregate ->
 * store -> publish. Constructing does no I/O; `start()` loads the model, opens the camera and the
 * outputs; `run()` processes frames until the source ends or `stop()` is called.
 */
export class CounterRuntime implements RuntimeView {
  readonly metrics = new CounterMetrics();
  readonly output: CountOutput;
  private detector: OnnxDetector | undefined;
  private source: FrameSource | undefined;
  private replay = false;
  private readonly abort = new AbortController();
  private readonly frameRate = new FrameRate();
  private readonly crossingTotals = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | undefined;
  private aggregator: IntervalAggregator | undefined;

  constructor(
    readonly config: Config,
    private readonly deps: RuntimeDeps,
  ) {
    const log = deps.log.child({ stage: "output" });
    this.output = new CountOutput(config, deps.version, {
      info: (m) => log.info(m),
      warn: (m) => log.warn(m),
      error: (m) => log.error(m),
    });
  }

  camera(): SourceState | undefined {
    return this.source?.state();
  }

  modelLoaded(): string | null {
    return this.detector ? this.detector.info.id : null;
  }

  processedFps(): number {
    return this.frameRate.perSecond(Date.now());
  }

  totals(): ReadonlyMap<string, number> {
    return this.crossingTotals;
  }

  /** Loads the model (with warm-up) and opens camera and outputs. Fatal problems throw. */
  async start(): Promise<void> {
    const c = this.config;
    const log = this.deps.log;
    const detectLog = log.child({ stage: "detect" });
    this.detector =
      this.deps.detector ??
      (await OnnxDetector.load({
        model: c.model.id,
        modelDir: c.model.dir,
        threads: c.model.threads,
        graphOptimization: c.model.graphOptimization,
        executionProviders: c.model.executionProviders,
        confidence: c.model.confidence,
        iou: c.model.iou,
        classes: c.model.classes,
        maxDetections: c.model.maxDetections,
        warn: (m) => detectLog.warn(m),
      }));
    detectLog.info(
      {
        model: this.detector.info.id,
        layout: this.detector.info.layout,
        providers: this.detector.info.executionProviders,
      },
      "model loaded",
    );
    const captureLog = log.child({ stage: "capture" });
    const onState = (s: SourceState) => {
      // a camera going down is what an operator must see; the way back up is news too, but calm
      const level = s.state === "down" ? "warn" : "info";
      captureLog[level]({ state: s.state, lastError: s.lastError, restarts: s.restarts }, "camera state");
      this.metrics.cameraUp.set(s.state === "up" ? 1 : 0);
      this.metrics.cameraRestarts.set(s.restarts);
      if (!this.replay)
        this.output.handle(this.aggregator?.cameraChanged(s.state === "up", Date.now()) ?? []);
      this.output.statusChanged();
    };
    if (this.deps.source) {
      this.source = this.deps.source.source;
      this.replay = this.deps.source.replay;
    } else {
      const target: CaptureTarget = this.detector.captureTarget();
      const opened = openCamera(c.camera, target, onState);
      this.source = opened.source;
      this.replay = opened.replay;
      captureLog.info({ kind: opened.kind, replay: opened.replay }, "camera opened");
    }
    this.output.start();
    this.output.setLive(() => this.liveStatus());
  }

  /** Read whenever a status message is built, so that it is never stale. */
  private liveStatus(): LiveStatus {
    const s = this.source?.state();
    return {
      model: this.modelLoaded(),
      camera: {
        state: s?.state === "up" ? "up" : s?.state === "down" ? "down" : "unknown",
        since: s ? new Date(s.sinceMs).toISOString() : null,
        lastError: s?.lastError ?? null,
      },
      processedFps: Math.round(this.processedFps() * 10) / 10,
    };
  }

  /** Processes frames until the source ends (replay) or `stop()`; then closes the last interval. */
  async run(): Promise<void> {
    const c = this.config;
    const detector = this.detector!;
    const source = this.source!;
    const log = this.deps.log.child({ stage: "pipeline" });
    const tracker = new ByteTracker({
      ...DEFAULT_TRACKER_OPTIONS,
      lostBufferSec: c.tracker.lostBufferSec,
      minHits: c.tracker.minHits,
    });
    const modes = new ModeOfTravel({
      modeOf: c.counting.modes,
      riderModeOf: {
        bicycle: c.counting.modes.bicycle ?? "cyclist",
        motorcycle: c.counting.modes.motorcycle ?? "motorcyclist",
      },
      riderFrames: DEFAULT_MODE_OPTIONS.riderFrames,
      parkedSpeed: DEFAULT_MODE_OPTIONS.parkedSpeed,
    });
    const reportedModes: Mode[] = [...new Set(Object.values(c.counting.modes))];
    let lines: LineCounter[] = [];
    let zones: ZoneCounter[] = [];
    let geometryFor = "";
    const lineOptions = {
      ...DEFAULT_LINE_OPTIONS,
      anchor: c.counting.anchor,
      minDistance: c.counting.minCrossingDistance,
      minSideSec: c.counting.minCrossingSec,
    };
    const zoneOptions = { ...DEFAULT_ZONE_OPTIONS, anchor: c.counting.anchor };
    const removedIds: number[] = [];
    const crossings: Crossing[] = [];
    const events: ZoneEvent[] = [];
    const occupancy = new Map<string, ReadonlyMap<Mode, number>>();
    let lastDropped = 0;
    let lastCorrupt = 0;
    let lastTsMs = 0;
    let frameIntervalMs = 1000 / c.camera.fps;
    let aggregator: IntervalAggregator | undefined;
    const startAggregator = (ms: number) => {
      aggregator = new IntervalAggregator(
        {
          deviceId: c.device.id,
          periodSec: c.aggregation.periodSec,
          minDwellVisitors: c.privacy.minDwellVisitors,
          lines: c.lines,
          zones: c.zones,
          modes: reportedModes,
          maxFrameGapSec: Math.max(2, 3 / c.camera.fps),
        },
        ms,
      );
      this.aggregator = aggregator;
    };
    if (!this.replay) {
      startAggregator(Date.now());
      // live intervals close on the wall clock even when no frame arrives (camera down); the open
      // one is saved every few seconds, so that a power loss loses at most those seconds
      let ticks = 0;
      this.flushTimer = setInterval(() => {
        const now = Date.now();
        this.output.handle(aggregator!.flush(now));
        if (++ticks % Math.round(c.storage.checkpointSec) === 0)
          this.output.checkpoint(aggregator!.snapshot(now));
      }, 1000);
    }
    this.frameRate.start(Date.now());
    try {
      for await (const frame of source.frames(this.abort.signal)) {
        if (!aggregator) startAggregator(frame.tsMs);
        const agg = aggregator!;
        const st = source.state();
        if (st.framesDropped > lastDropped) {
          agg.addDroppedFrames(st.framesDropped - lastDropped);
          this.metrics.framesDropped.inc(st.framesDropped - lastDropped);
          lastDropped = st.framesDropped;
        }
        if (st.framesCorrupt > lastCorrupt) {
          agg.addCorruptFrames(st.framesCorrupt - lastCorrupt);
          this.metrics.framesCorrupt.inc(st.framesCorrupt - lastCorrupt);
          lastCorrupt = st.framesCorrupt;
        }
        let detections: Awaited<ReturnType<OnnxDetector["detect"]>>;
        try {
          detections = await detector.detect(frame.pixels);
        } catch (err) {
          if (!(err instanceof ImageDecodeError)) throw err;
          agg.addCorruptFrames(1);
          this.metrics.framesCorrupt.inc();
          if (log.isLevelEnabled("debug"))
            log.debug({ seq: frame.seq, error: err.message }, "corrupt frame skipped");
          continue;
        }
        const t = detector.lastTimings;
        this.metrics.inferenceSeconds.observe((t.preprocessMs + t.inferenceMs + t.postprocessMs) / 1000);
        const key = `${frame.width}x${frame.height}`;
        if (key !== geometryFor) {
          geometryFor = key;
          const px = (p: readonly (readonly [number, number])[]) =>
            p.map(([x, y]) => ({ x: x * frame.width, y: y * frame.height }));
          lines = c.lines.map(
            (l) =>
              new LineCounter({ name: l.name, from: l.from, to: l.to, points: px(l.points) }, lineOptions),
          );
          zones = c.zones.map(
            (z) =>
              new ZoneCounter(
                { name: z.name, dwellThresholdSec: z.dwellThresholdSec, polygon: px(z.polygon) },
                zoneOptions,
              ),
          );
        }
        const update = tracker.update(detections, frame.tsMs);
        const users = modes.update(update);
        removedIds.length = 0;
        for (const r of update.removed) removedIds.push(r.id);
        crossings.length = 0;
        for (const l of lines) for (const x of l.update(users, frame.tsMs, removedIds)) crossings.push(x);
        events.length = 0;
        occupancy.clear();
        for (const z of zones) {
          for (const e of z.update(users, frame.tsMs, removedIds)) events.push(e);
          occupancy.set(z.zone.name, z.occupancy());
        }
        for (const x of crossings) {
          const k = `${x.line}:${x.from}>${x.to}:${x.mode}`;
          this.crossingTotals.set(k, (this.crossingTotals.get(k) ?? 0) + 1);
          this.metrics.crossings.inc({ line: x.line, from: x.from, to: x.to, mode: x.mode });
        }
        this.output.handle(agg.addFrame(frame.tsMs, crossings, events, occupancy));
        if (lastTsMs > 0 && frame.tsMs > lastTsMs) frameIntervalMs = frame.tsMs - lastTsMs;
        lastTsMs = frame.tsMs;
        this.metrics.framesProcessed.inc();
        this.metrics.activeTracks.set(update.tracks.length);
        const now = Date.now();
        this.frameRate.add(now);
        this.metrics.processedFps.set(this.frameRate.perSecond(now));
        this.metrics.outboxDepth.set(this.output.outboxDepth());
        this.metrics.brokerConnected.set(this.output.brokerConnected ? 1 : 0);
        this.deps.onFrame?.(frame, crossings);
      }
    } finally {
      clearInterval(this.flushTimer);
      // the last interval ends where observation ended: now (live) or after the last frame (replay)
      const endMs = this.replay ? lastTsMs + frameIntervalMs : Date.now();
      if (aggregator) this.output.handle(aggregator.close(endMs));
      log.info(
        { frames: await this.metrics.framesProcessed.get().then((m) => m.values[0]?.value ?? 0) },
        "pipeline stopped",
      );
    }
  }

  /** Graceful stop: the current frame finishes, the partial interval is closed and stored. */
  requestStop(): void {
    this.abort.abort();
  }

  /** After `run()` returned: deliver what is pending (bounded wait), publish offline, close. */
  async shutdown(drainMs = 3000): Promise<void> {
    await this.output.drained(drainMs);
    await this.output.stop();
    await this.detector?.release();
  }
}
