import type { Frame } from "../domain/types.ts";

export type SourceStateName = "starting" | "up" | "down" | "ended";

/** What health reporting needs to know about a camera. */
export interface SourceState {
  readonly state: SourceStateName;
  /** Epoch ms of the last state change. */
  readonly sinceMs: number;
  readonly lastError: string | null;
  readonly restarts: number;
  /** Frames decoded by the source (before any dropping). */
  readonly framesDecoded: number;
  /** Frames dropped because a newer one arrived before the consumer was ready (live mode). */
  readonly framesDropped: number;
  /** Garbage or truncated frames skipped. */
  readonly framesCorrupt: number;
}

/**
 * A camera or recording. `frames()` yields frames until the source ends or `signal` aborts. A
 * frame's pixel buffer belongs to the source again once the consumer asks for the next frame.
 */
export interface FrameSource {
  readonly description: string;
  frames(signal: AbortSignal): AsyncIterable<Frame>;
  state(): SourceState;
}

/** Mutable counterpart of SourceState kept by sources. */
export class SourceStats {
  state: SourceStateName = "starting";
  sinceMs = Date.now();
  lastError: string | null = null;
  restarts = 0;
  framesDecoded = 0;
  framesDropped = 0;
  framesCorrupt = 0;

  set(state: SourceStateName, error?: string): void {
    if (state !== this.state) {
      this.state = state;
      this.sinceMs = Date.now();
    }
    if (error !== undefined) this.lastError = error;
  }

  snapshot(): SourceState {
    return {
      state: this.state,
      sinceMs: this.sinceMs,
      lastError: this.lastError,
      restarts: this.restarts,
      framesDecoded: this.framesDecoded,
      framesDropped: this.framesDropped,
      framesCorrupt: this.framesCorrupt,
    };
  }
}
