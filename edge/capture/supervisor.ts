import type { Frame } from "../domain/types.ts";
import { CaptureError } from "./ffmpeg.ts";
import type { FrameSource, SourceState, SourceStateName } from "./source.ts";

export interface SupervisorOptions {
  /** No frame for this long counts as a failure: the source is restarted. */
  readonly stallTimeoutSec: number;
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  /** Live cameras restart when their stream ends; replays simply finish. */
  readonly restartOnEnd: boolean;
  readonly onStateChange?: (state: SourceState) => void;
}

/**
 * Keeps a source running for months: a source that ends (live), errors or stalls is restarted with
 * exponential backoff and jitter. Sequence numbers keep increasing across restarts. The state (up or
 * down, since when, last error, restarts) is what health reporting shows.
 */
export class SupervisedSource implements FrameSource {
  private inner: FrameSource | undefined;
  private name: SourceStateName = "starting";
  private sinceMs = Date.now();
  private lastError: string | null = null;
  private restarts = 0;
  private totals = { decoded: 0, dropped: 0, corrupt: 0 };
  /** The running source's stop switch, and whether it was pulled to start it afresh. */
  private running: AbortController | undefined;
  private restartRequested = false;

  constructor(
    private readonly factory: () => FrameSource,
    readonly options: SupervisorOptions,
  ) {}

  get description(): string {
    return this.inner?.description ?? "camera";
  }

  state(): SourceState {
    const s = this.inner?.state();
    return {
      state: this.name,
      sinceMs: this.sinceMs,
      lastError: this.lastError,
      restarts: this.restarts,
      framesDecoded: this.totals.decoded + (s?.framesDecoded ?? 0),
      framesDropped: this.totals.dropped + (s?.framesDropped ?? 0),
      framesCorrupt: this.totals.corrupt + (s?.framesCorrupt ?? 0),
    };
  }

  private set(name: SourceStateName, error?: string): void {
    if (error !== undefined) this.lastError = error;
    if (name === this.name) return;
    this.name = name;
    this.sinceMs = Date.now();
    this.options.onStateChange?.(this.state());
  }

  /**
   * Stops the running source and starts a new one from the factory at once, without a backoff and
   * without counting a failure (a new detection region needs a new crop). Live sources only.
   */
  restart(): void {
    if (!this.running || this.running.signal.aborted) return;
    this.restartRequested = true;
    this.running.abort();
  }

  async *frames(signal: AbortSignal): AsyncGenerator<Frame> {
    let seq = 0;
    let backoff = this.options.backoffMinMs;
    while (!signal.aborted) {
      let inner: FrameSource;
      try {
        inner = this.factory();
      } catch (err) {
        this.set("down", (err as Error).message);
        throw err; // a source that cannot even be constructed (bad path, missing ffmpeg) is fatal
      }
      this.inner = inner;
      const run = new AbortController();
      this.running = run;
      const onAbort = () => run.abort();
      signal.addEventListener("abort", onAbort, { once: true });
      let stalled = false;
      let watchdog: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          stalled = true;
          run.abort();
        }, this.options.stallTimeoutSec * 1000);
      };
      let failure: string | undefined;
      let firstFrameMs: number | undefined;
      try {
        arm();
        for await (const f of inner.frames(run.signal)) {
          arm();
          if (this.name !== "up") this.set("up");
          firstFrameMs ??= Date.now();
          // frames flowing for a while: the next failure starts the backoff afresh
          if (Date.now() - firstFrameMs > 30_000) backoff = this.options.backoffMinMs;
          yield seq === f.seq ? f : { ...f, seq };
          seq++;
        }
        if (stalled) failure = `no frame for ${this.options.stallTimeoutSec} s`;
      } catch (err) {
        failure = stalled ? `no frame for ${this.options.stallTimeoutSec} s` : (err as Error).message;
      } finally {
        clearTimeout(watchdog);
        signal.removeEventListener("abort", onAbort);
        const s = inner.state();
        this.totals.decoded += s.framesDecoded;
        this.totals.dropped += s.framesDropped;
        this.totals.corrupt += s.framesCorrupt;
        this.inner = undefined;
        this.running = undefined;
      }
      if (signal.aborted) return;
      if (this.restartRequested) {
        this.restartRequested = false;
        if (!stalled) continue;
      }
      if (!this.options.restartOnEnd) {
        // a replay is read once: a file that cannot be read, or breaks off, is an error, not a retry
        if (failure === undefined) {
          this.set("ended");
          return;
        }
        this.set("down", failure);
        throw new CaptureError(seq === 0 ? `the recording could not be read: ${failure}` : failure, seq);
      }
      this.set("down", failure ?? "stream ended");
      this.restarts++;
      const wait = backoff * (0.5 + Math.random());
      backoff = Math.min(this.options.backoffMaxMs, backoff * 2);
      // the listener goes when the wait ends: one left per restart would pile up on a flaky camera
      await new Promise<void>((resolve) => {
        const onAbortWait = () => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          signal.removeEventListener("abort", onAbortWait);
          resolve();
        }, wait);
        signal.addEventListener("abort", onAbortWait, { once: true });
      });
      if (!signal.aborted) this.set("starting");
    }
  }
}
