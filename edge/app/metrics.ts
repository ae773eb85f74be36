import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics of one counter process (its own registry: no global state). */
export class CounterMetrics {
  readonly registry = new Registry();
  readonly framesProcessed = new Counter({
    name: "counter_frames_processed_total",
    help: "Frames run through the detector",
    registers: [this.registry],
  });
  readonly framesDropped = new Counter({
    name: "counter_frames_dropped_total",
    help: "Frames dropped because a newer one arrived (live mode)",
    registers: [this.registry],
  });
  readonly framesCorrupt = new Counter({
    name: "counter_frames_corrupt_total",
    help: "Frames skipped because they could not be decoded",
    registers: [this.registry],
  });
  readonly inferenceSeconds = new Histogram({
    name: "counter_inference_seconds",
    help: "Detector time per frame (prepare + model + post-process)",
    buckets: [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28],
    registers: [this.registry],
  });
  readonly processedFps = new Gauge({
    name: "counter_processed_fps",
    help: "Frames processed per second (recent average)",
    registers: [this.registry],
  });
  readonly activeTracks = new Gauge({
    name: "counter_active_tracks",
    help: "Tracks currently followed",
    registers: [this.registry],
  });
  readonly crossings = new Counter({
    name: "counter_crossings_total",
    help: "Line crossings by line, direction and mode since start",
    labelNames: ["line", "from", "to", "mode"] as const,
    registers: [this.registry],
  });
  readonly outboxDepth = new Gauge({
    name: "counter_outbox_depth",
    help: "Interval messages waiting for the broker",
    registers: [this.registry],
  });
  readonly cameraUp = new Gauge({
    name: "counter_camera_up",
    help: "1 while the camera delivers frames",
    registers: [this.registry],
  });
  readonly cameraRestarts = new Gauge({
    name: "counter_camera_restarts",
    help: "Camera source restarts since start",
    registers: [this.registry],
  });
  readonly regionRestarts = new Counter({
    name: "counter_capture_region_restarts_total",
    help: "Capture restarts for a new detection region (lines saved, set-up on or off): a moment without frames each, not a failure",
    registers: [this.registry],
  });
  readonly sceneState = new Gauge({
    name: "counter_scene_state",
    help: "1 while the scene check holds this state raised (dark, overexposed, obscured, frozen, moved): the counter cannot see",
    labelNames: ["state"] as const,
    registers: [this.registry],
  });
  readonly sceneChanges = new Counter({
    name: "counter_scene_state_changes_total",
    help: "Scene states raised since start, by state",
    labelNames: ["state"] as const,
    registers: [this.registry],
  });
  readonly brokerConnected = new Gauge({
    name: "counter_broker_connected",
    help: "1 while connected to the MQTT broker",
    registers: [this.registry],
  });
}
