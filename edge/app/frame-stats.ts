import type { SourceState } from "../capture/source.ts";
import type { DetectTimings } from "../detect/detector.ts";
import { CrossingTotals } from "../domain/crossing-totals.ts";
import type { FrameResult } from "../pipeline/pipeline.ts";
import { FrameRate } from "./frame-rate.ts";
import type { CounterMetrics } from "./metrics.ts";

/**
 * Per-frame bookkeeping of `counter run` beside the pipeline: Prometheus metrics, the processed
 * frame rate, crossing totals since start, and the source's dropped/corrupt counters turned into
 * increments.
 */
export class FrameStats {
  readonly totals = new CrossingTotals();
  readonly frameRate = new FrameRate();
  private lastDropped = 0;
  private lastCorrupt = 0;
  frames = 0;

  constructor(private readonly metrics: CounterMetrics) {}

  start(nowMs: number): void {
    this.frameRate.start(nowMs);
  }

  /** Frames the source dropped or could not decode since the last call. */
  sourceLosses(s: SourceState): { dropped: number; corrupt: number } {
    const dropped = s.framesDropped - this.lastDropped;
    const corrupt = s.framesCorrupt - this.lastCorrupt;
    this.lastDropped = s.framesDropped;
    this.lastCorrupt = s.framesCorrupt;
    if (dropped > 0) this.metrics.framesDropped.inc(dropped);
    if (corrupt > 0) this.metrics.framesCorrupt.inc(corrupt);
    return { dropped, corrupt };
  }

  corruptFrame(): void {
    this.metrics.framesCorrupt.inc();
  }

  /** Per frame: nothing here may touch the database (the outbox depth is read when scraped). */
  frameDone(
    result: FrameResult,
    t: DetectTimings,
    nowMs: number,
    output: { readonly brokerConnected: boolean },
  ): void {
    this.frames++;
    const m = this.metrics;
    m.inferenceSeconds.observe((t.preprocessMs + t.inferenceMs + t.postprocessMs) / 1000);
    for (const x of result.crossings) {
      this.totals.add(x);
      m.crossings.inc({ line: x.line, from: x.from, to: x.to, mode: x.mode });
    }
    m.framesProcessed.inc();
    m.activeTracks.set(result.activeTracks);
    this.frameRate.add(nowMs);
    m.processedFps.set(this.frameRate.perSecond(nowMs));
    m.brokerConnected.set(output.brokerConnected ? 1 : 0);
  }
}
