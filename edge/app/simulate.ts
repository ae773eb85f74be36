import { IntervalAggregator } from "../aggregate/aggregator.ts";
import type { Config } from "../config/schema.ts";
import { countKey } from "../domain/crossing-totals.ts";
import { seededRandom } from "../domain/random.ts";
import type { Crossing, Mode } from "../domain/types.ts";
import { aggregationOptionsFrom, reportedModes } from "../pipeline/pipeline.ts";
import { SETUP_OFF } from "../setup/setup-mode.ts";
import { CountOutput } from "./count-output.ts";
import type { Logger } from "./logger.ts";

export interface SimulationOptions {
  /** Mean crossings per second per line. */
  readonly ratePerSec: number;
  readonly seed: number;
  readonly tickMs: number;
}

/**
 * A device without a camera: random crossings on the configured lines, aggregated, stored and
 * published exactly as `counter run` does. For testing dashboards, brokers and fleets.
 */
export class SimulatedDevice {
  readonly output: CountOutput;
  private aggregator: IntervalAggregator | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly rand: () => number;
  private readonly modes: readonly Mode[];
  /** Crossings generated so far, per `line:from>to:mode` (what the delivered counts must add up to). */
  readonly generated = new Map<string, number>();

  constructor(
    readonly config: Config,
    readonly options: SimulationOptions,
    version: string,
    log: Logger,
  ) {
    this.output = new CountOutput(config, version, {
      info: (m) => log.info(m),
      warn: (m) => log.warn(m),
      error: (m) => log.error(m),
    });
    this.rand = seededRandom(options.seed);
    this.modes = reportedModes(config);
  }

  start(nowMs = Date.now()): void {
    const c = this.config;
    // the same intervals as `counter run`; crossings come from the dice instead of the pipeline
    this.aggregator = new IntervalAggregator(
      { ...aggregationOptionsFrom(c), lines: c.lines, zones: c.zones, maxFrameGapSec: 2 },
      nowMs,
    );
    this.output.start();
    this.output.setLive({
      model: "simulated",
      camera: { state: "up", since: new Date(nowMs).toISOString(), lastError: null },
      processedFps: 1000 / this.options.tickMs,
      setup: SETUP_OFF,
    });
    this.timer = setInterval(() => this.tick(Date.now()), this.options.tickMs);
  }

  private tick(nowMs: number): void {
    const crossings: Crossing[] = [];
    const p = (this.options.ratePerSec * this.options.tickMs) / 1000;
    for (const line of this.config.lines) {
      if (this.rand() >= p) continue;
      const forward = this.rand() < 0.5;
      const mode = this.modes[Math.floor(this.rand() * this.modes.length)]!;
      const c: Crossing = {
        line: line.name,
        from: forward ? line.from : line.to,
        to: forward ? line.to : line.from,
        mode,
        tsMs: nowMs,
      };
      crossings.push(c);
      const k = countKey(c);
      this.generated.set(k, (this.generated.get(k) ?? 0) + 1);
    }
    this.output.handle(this.aggregator!.addFrame(nowMs, crossings, [], new Map()));
  }

  /** Closes the current interval (partial) and stops; `kill` skips the clean offline status. */
  async stop(nowMs = Date.now()): Promise<void> {
    clearInterval(this.timer);
    if (this.aggregator) this.output.handle(this.aggregator.close(nowMs));
    await this.output.drained(5000);
    await this.output.stop();
  }
}
