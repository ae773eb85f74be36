import type { GeometryView } from "../api/contract.ts";
import { openCamera } from "../capture/open.ts";
import type { FrameSource, SourceState } from "../capture/source.ts";
import type { GeometryEdit } from "../config/edit.ts";
import { GeometryFile } from "../config/geometry-file.ts";
import type { Config } from "../config/schema.ts";
import type { Detector, Submitted } from "../detect/detector.ts";
import { loadDetector } from "../detect/load-detector.ts";
import { ImageDecodeError } from "../detect/preprocess.ts";
import type { LiveCounts } from "../domain/live.ts";
import type { Box, Crossing, Detection, Frame, FramePixels, LineCount, Mode } from "../domain/types.ts";
import { isWholeView } from "../domain/view.ts";
import { Pipeline } from "../pipeline/pipeline.ts";
import { SCENE_STATES, type SceneFlags } from "../scene/scene-check.ts";
import { SceneWatch } from "../scene/scene-watch.ts";
import { SetupMode, setupOptionsFrom } from "../setup/setup-mode.ts";
import { CountOutput, type LiveStatus } from "./count-output.ts";
import { DetectionRegion } from "./detection-region.ts";
import { FrameStats } from "./frame-stats.ts";
import type { Logger } from "./logger.ts";
import { CounterMetrics } from "./metrics.ts";
import { TodayCounts } from "./today-counts.ts";

export interface RuntimeDeps {
  readonly log: Logger;
  readonly version: string;
  /** For tests: a detector already loaded. */
  readonly detector?: Detector;
  /** For tests: a frame source instead of the configured camera. */
  readonly source?: { readonly source: FrameSource; readonly replay: boolean };
  /** The device's YAML file, where set-up saves new lines and zones (none: they cannot be saved). */
  readonly configPath?: string;
  /** Called after every processed frame (progress displays). */
  readonly onFrame?: (frame: Frame, crossings: readonly Crossing[]) => void;
}

/**
 * The composition root of `counter run`: capture -> detect -> track -> count -> aggregate ->
 * store -> publish. It wires the owners (outputs, pipeline, detection region, scene watch, set-up,
 * device file, today's counts) and runs them. Constructing does no I/O; `start()` loads the model,
 * opens the camera and the outputs; `run()` processes frames until the source ends or
 * `requestStop()` is called; `shutdown()` closes what `start()` opened.
 */
export class CounterRuntime {
  readonly metrics = new CounterMetrics();
  readonly output: CountOutput;
  private readonly stats = new FrameStats(this.metrics);
  private readonly pipeline: Pipeline;
  private detector: Detector | undefined;
  private source: FrameSource | undefined;
  private replay = false;
  private readonly abort = new AbortController();
  private flushTimer: NodeJS.Timeout | undefined;
  /** Time between the last two frames, for where a replay's last interval ends. */
  private frameIntervalMs: number;
  /** Set-up mode: the page's preview and live positions exist only while it is on. */
  readonly setup: SetupMode;
  private occupancy: ReadonlyMap<string, ReadonlyMap<Mode, number>> = new Map();
  /** The part of the view the detector looks at. */
  private readonly region: DetectionRegion;
  /** Crossings since local midnight, for the page. */
  private readonly today = new TodayCounts(
    () => this.output.database,
    (nowMs) => this.pipeline.snapshot(nowMs),
  );
  /** Can the counter see? Checked on every frame before the detector takes its pixels. */
  private readonly scene: SceneWatch;
  /** The device's YAML file, where set-up saves lines and zones. */
  private readonly geometryFile: GeometryFile;

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
    this.pipeline = Pipeline.fromConfig(config);
    this.geometryFile = new GeometryFile(deps.configPath);
    this.region = new DetectionRegion(
      config.camera,
      {
        geometry: () => this.pipeline.currentGeometry,
        wholeViewWanted: () => this.setup.active,
        inputAspect: () => {
          const input = this.detector?.info;
          return input ? input.inputWidth / input.inputHeight : undefined;
        },
      },
      deps.log.child({ stage: "capture" }),
      this.metrics.regionRestarts,
    );
    this.frameIntervalMs = 1000 / config.camera.fps;
    for (const state of SCENE_STATES) this.metrics.sceneState.set({ state }, 0);
    this.scene = new SceneWatch({
      normals: () => this.output.database,
      log: deps.log.child({ stage: "scene" }),
      changed: (changes, flags) => {
        for (const c of changes) if (c.raised) this.metrics.sceneChanges.inc({ state: c.state });
        for (let s = 0; s < SCENE_STATES.length; s++)
          this.metrics.sceneState.set({ state: SCENE_STATES[s] as string }, flags & (1 << s) ? 1 : 0);
        this.output.statusChanged();
      },
    });
    const setupLog = deps.log.child({ stage: "setup" });
    this.setup = new SetupMode(setupOptionsFrom(config), (state) => {
      // who looked, and when, is for the record: the retained status says it too
      setupLog.info(state, state.active ? "set-up mode on" : "set-up mode off");
      // the view the installer just approved is the scene's new reference
      // (and what was kept of the region around the lines is not resumed: the camera may have moved)
      if (!state.active) this.scene.setupEnded(this.pipeline.lastFrameMs ?? Date.now());
      this.output.statusChanged();
      this.region.changed();
    });
  }

  camera(): SourceState | undefined {
    return this.source?.state();
  }

  modelLoaded(): string | null {
    return this.detector ? this.detector.info.id : null;
  }

  processedFps(): number {
    return this.stats.frameRate.perSecond(Date.now());
  }

  /** Crossings since start per line, direction and mode (aggregates only). */
  totals(): readonly LineCount[] {
    return this.stats.totals.all();
  }

  /** The lines and zones counted now, the device file's revision and the detection region. */
  geometry(): GeometryView {
    return {
      ...this.pipeline.currentGeometry,
      revision: this.geometryFile.revision(),
      region: this.region.info(),
    };
  }

  /** The page's live view: totals since start and today, occupancy, the processed frame rate. */
  liveCounts(): LiveCounts {
    return {
      totals: this.totals(),
      today: this.today.at(Date.now()),
      occupancy: [...this.occupancy].map(([zone, byMode]) => ({
        zone,
        byMode: Object.fromEntries(byMode),
      })),
      processedFps: Math.round(this.processedFps() * 10) / 10,
    };
  }

  /** Loads the model (with warm-up) and opens camera and outputs. Fatal problems throw. */
  async start(): Promise<void> {
    const log = this.deps.log;
    // a save killed mid-write leaves its temporary file; the device file itself is whole
    const removed = this.geometryFile.removeAbandonedSaves();
    if (removed.length > 0) log.info({ removed }, "unfinished configuration saves removed");
    const detectLog = log.child({ stage: "detect" });
    this.detector = this.deps.detector ?? (await loadDetector(this.config.model, (m) => detectLog.warn(m)));
    const info = this.detector.info;
    detectLog.info(
      {
        model: info.id,
        layout: info.layout,
        providers: info.executionProviders,
        runsIn: info.runsIn,
        precision: info.precision,
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
      if (!this.replay) this.output.handle(this.pipeline.cameraChanged(s.state === "up", Date.now()));
      this.output.statusChanged();
    };
    if (this.deps.source) {
      this.source = this.deps.source.source;
      this.replay = this.deps.source.replay;
    } else {
      // the camera's first start reads the region (below) when the supervisor first asks for frames
      const region = this.region;
      const opened = openCamera(
        this.config.camera,
        this.detector.captureTarget(),
        onState,
        () => region.current,
      );
      this.source = opened.source;
      this.replay = opened.replay;
      captureLog.info({ kind: opened.kind, replay: opened.replay }, "camera opened");
      await region.cameraOpened(opened);
    }
    this.region.start();
    this.output.start();
    this.output.setLive(() => this.liveStatus());
  }

  /** Read whenever a status message is built, so that it is never stale. */
  private liveStatus(): LiveStatus {
    const s = this.source?.state();
    return {
      model: this.modelLoaded(),
      ...(this.detector?.info.precision ? { modelPrecision: { ...this.detector.info.precision } } : {}),
      camera: {
        state: s?.state === "up" ? "up" : s?.state === "down" ? "down" : "unknown",
        since: s ? new Date(s.sinceMs).toISOString() : null,
        lastError: s?.lastError ?? null,
      },
      processedFps: Math.round(this.processedFps() * 10) / 10,
      setup: this.setup.state(),
      scene: this.scene.status(),
    };
  }

  /** Processes frames until the source ends (replay) or `stop()`; then closes the last interval. */
  async run(): Promise<void> {
    const { detector, source } = this.started();
    const log = this.deps.log.child({ stage: "pipeline" });
    if (!this.replay) this.startClock();
    this.stats.start(Date.now());
    // one frame in flight while the next is taken and prepared: with the model in a worker, the
    // Node thread's share of a frame overlaps the inference of the one before
    let inFlight:
      | { frame: Frame; detections: Promise<Detection[]>; sample?: FramePixels; scene: SceneFlags }
      | undefined;
    const take = () => {
      const f = inFlight;
      inFlight = undefined;
      return f;
    };
    try {
      for await (const frame of source.frames(this.abort.signal)) {
        this.recordLosses(source.state(), frame.tsMs);
        this.region.frameSeen(frame);
        // set-up mode on: now and then a copy for the preview, before the detector takes the pixels
        // (only of the whole view: a frame cropped before set-up began is no preview)
        const sample =
          this.setup.wantsSample(frame.tsMs) && isWholeView(frame.view)
            ? copyPixels(frame.pixels)
            : undefined;
        // raw pixels are checked before the detector takes them; a JPEG is decoded small for it
        // beside the detector's own decoding
        const checked = this.scene.observe(frame);
        const submitted = await this.submitOrSkip(detector, frame, log); // pixels consumed here
        const scene = typeof checked === "number" ? checked : await checked;
        const previous = take();
        if (previous) this.count(previous, await previous.detections, detector);
        inFlight = submitted && { frame, detections: submitted.detections, sample, scene };
      }
    } finally {
      // the frame in flight when the source ended, was stopped or broke off still counts
      const pending = take();
      if (pending) {
        const detections = await pending.detections.catch((err: Error) => {
          log.warn({ error: err.message }, "the last frame's detections were lost");
          return undefined;
        });
        if (detections) this.count(pending, detections, detector);
      }
      clearInterval(this.flushTimer);
      // the last interval ends where observation ended: now (live) or after the last frame (replay)
      const last = this.pipeline.lastFrameMs;
      const endMs = this.replay ? (last ?? 0) + this.frameIntervalMs : Date.now();
      this.output.handle(this.pipeline.close(endMs));
      log.info({ frames: this.stats.frames }, "pipeline stopped");
    }
  }

  /**
   * Replaces the counting lines and zones while running (set-up): tracks are kept, the interval in
   * progress is split at this moment and both parts are flagged.
   */
  replaceGeometry(
    geometry: Pick<Config, "lines" | "zones"> & { readonly anchor?: Config["counting"]["anchor"] },
  ): void {
    const at = this.replay ? (this.pipeline.lastFrameMs ?? Date.now()) : Date.now();
    this.output.handle(this.pipeline.replaceGeometry(geometry, at));
    this.output.setLines(geometry.lines);
    this.region.changed();
  }

  /**
   * Set-up: new lines and zones validated, saved to the device's file (comments kept, the previous
   * version beside it) and applied while counting. A problem throws `ConfigError` with its paths.
   */
  saveGeometry(edit: GeometryEdit, revision?: string): GeometryView {
    const { revision: saved, ...geometry } = this.geometryFile.save(edit, revision);
    this.replaceGeometry(geometry);
    return { ...geometry, revision: saved, region: this.region.info() };
  }

  private started(): { detector: Detector; source: FrameSource } {
    if (!this.detector || !this.source) throw new Error("CounterRuntime.run() before start()");
    return { detector: this.detector, source: this.source };
  }

  /**
   * Live intervals close on the wall clock even when no frame arrives (camera down); the open one
   * is saved every few seconds, so that a power loss loses at most those seconds.
   */
  private startClock(): void {
    this.pipeline.begin(Date.now());
    const checkpointEvery = Math.round(this.config.storage.checkpointSec);
    let ticks = 0;
    this.flushTimer = setInterval(() => {
      const now = Date.now();
      this.output.handle(this.pipeline.flush(now));
      const open = ++ticks % checkpointEvery === 0 ? this.pipeline.snapshot(now) : undefined;
      if (open) this.output.checkpoint(open);
    }, 1000);
  }

  private recordLosses(state: SourceState, tsMs: number): void {
    const { dropped, corrupt } = this.stats.sourceLosses(state);
    if (dropped > 0) this.pipeline.addDroppedFrames(dropped, tsMs);
    if (corrupt > 0) this.pipeline.addCorruptFrames(corrupt, tsMs);
  }

  /**
   * A frame's detections through the counting pipeline: its closed intervals go out, set-up mode
   * gets the positions (and, for a sampled frame, the boxes to mask out of the preview).
   */
  private count(
    taken: { readonly frame: Frame; readonly sample?: FramePixels | undefined; readonly scene: SceneFlags },
    detections: readonly Detection[],
    detector: Detector,
  ): void {
    const { frame } = taken;
    const previousMs = this.pipeline.lastFrameMs;
    const result = this.pipeline.step(frame, detections, taken.scene);
    this.output.handle(result.intervals);
    this.occupancy = result.occupancy;
    if (this.setup.active) {
      this.setup.frameCounted(result.users, result.savedLineCrossings, frame);
      if (taken.sample) {
        // everyone seen in the frame, detected or predicted, is masked out of the preview's vote
        const boxes: Box[] = detections.map((d) => d.box);
        for (const u of result.users) boxes.push(u.box);
        this.setup.sample(taken.sample, frame, boxes).catch((err: Error) => {
          this.deps.log.warn({ stage: "setup", error: err.message }, "frame not added to the preview");
        });
      }
    }
    this.stats.frameDone(result, detector.lastTimings, Date.now(), this.output);
    if (previousMs !== undefined && frame.tsMs > previousMs) this.frameIntervalMs = frame.tsMs - previousMs;
    this.deps.onFrame?.(frame, result.crossings);
  }

  /** The frame handed to the detector, or undefined if it cannot be decoded (counted, logged, skipped). */
  private async submitOrSkip(detector: Detector, frame: Frame, log: Logger): Promise<Submitted | undefined> {
    try {
      // raw frames show what the capture cropped them to; an encoded image is cropped by the detector
      return await detector.submit(
        frame.pixels,
        frame,
        frame.pixels.kind === "encoded" ? this.region.current : frame.view,
      );
    } catch (err) {
      if (!(err instanceof ImageDecodeError)) throw err;
      this.pipeline.addCorruptFrames(1, frame.tsMs);
      this.stats.corruptFrame();
      if (log.isLevelEnabled("debug"))
        log.debug({ seq: frame.seq, error: err.message }, "corrupt frame skipped");
      return undefined;
    }
  }

  /** Graceful stop: the current frame finishes, the partial interval is closed and stored. */
  requestStop(): void {
    this.abort.abort();
  }

  /** After `run()` returned: deliver what is pending (bounded wait), publish offline, close. */
  async shutdown(drainMs = 3000): Promise<void> {
    this.setup.stop();
    await this.output.drained(drainMs);
    await this.output.stop();
    await this.detector?.release();
  }
}

/** A copy of a frame's pixels that outlives the frame (the detector may move or reuse the original). */
function copyPixels(p: FramePixels): FramePixels {
  return p.kind === "rgb"
    ? { ...p, data: Buffer.from(p.data) }
    : { kind: "encoded", data: Buffer.from(p.data) };
}
