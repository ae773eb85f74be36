import type { LiveFrame, SetupState, SetupStatus } from "../domain/live.ts";
import type { Box, Crossing, FramePixels, RoadUser } from "../domain/types.ts";

import { type BackgroundOptions, DEFAULT_BACKGROUND_OPTIONS, SceneBackground } from "./background.ts";

export const SETUP_OFF: SetupState = { active: false, since: null, until: null };

export interface SetupOptions {
  readonly maxMinutes: number;
  readonly sampleEverySec: number;
  /** Live positions are sent at most this often. */
  readonly liveEveryMs: number;
  readonly background: BackgroundOptions;
}

/** What the local API may do with set-up mode. */
export interface SetupAccess {
  status(): SetupStatus;
  /** Switches set-up on (for `maxMinutes` from now) or off. */
  switch(active: boolean): SetupStatus;
  /** The preview JPEG; undefined while set-up is off or too few samples are in. */
  background(): Promise<Buffer> | undefined;
  /** Live positions while set-up is on; `ended` is called when it goes off. Undefined when off. */
  subscribe(listener: (frame: LiveFrame) => void, ended: () => void): (() => void) | undefined;
}

type Timer = ReturnType<typeof setTimeout>;

/**
 * Set-up mode: explicit, temporary, audited. While on (at most `maxMinutes`), frames are sampled
 * into the road-user-free preview and tracked positions go to the page; when it goes off, by
 * request or by itself, the samples are dropped and live subscribers are closed. Off costs one
 * boolean test per frame.
 */
export class SetupMode implements SetupAccess {
  private sinceMs: number | undefined;
  private untilMs: number | undefined;
  private timer: Timer | undefined;
  private scene: SceneBackground | undefined;
  private nextSampleTs = Number.NEGATIVE_INFINITY;
  private readonly listeners = new Map<(f: LiveFrame) => void, () => void>();
  private pendingCrossings: Crossing[] = [];
  private lastLiveMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly options: SetupOptions,
    private readonly onChange: (state: SetupState) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get active(): boolean {
    return this.scene !== undefined;
  }

  state(): SetupState {
    if (this.sinceMs === undefined || this.untilMs === undefined) return SETUP_OFF;
    return {
      active: true,
      since: new Date(this.sinceMs).toISOString(),
      until: new Date(this.untilMs).toISOString(),
    };
  }

  status(): SetupStatus {
    return {
      ...this.state(),
      maxMinutes: this.options.maxMinutes,
      samples: this.scene?.sampleCount ?? 0,
      samplesNeeded: this.options.background.minSamples,
    };
  }

  switch(active: boolean): SetupStatus {
    if (active) this.start();
    else this.stop();
    return this.status();
  }

  /** On for `maxMinutes` from now; switching on again while on extends it (since stays). */
  start(): void {
    const now = this.now();
    this.sinceMs ??= now;
    this.untilMs = now + this.options.maxMinutes * 60_000;
    this.scene ??= new SceneBackground(this.options.background);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.stop(), this.untilMs - now);
    this.timer.unref();
    this.onChange(this.state());
  }

  stop(): void {
    if (!this.scene) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.scene.clear();
    this.scene = undefined;
    this.sinceMs = this.untilMs = undefined;
    this.nextSampleTs = Number.NEGATIVE_INFINITY;
    this.pendingCrossings = [];
    for (const ended of this.listeners.values()) ended();
    this.listeners.clear();
    this.onChange(this.state());
  }

  /** Whether the frame at `tsMs` (frame time) should go into the preview. */
  wantsSample(tsMs: number): boolean {
    return this.scene !== undefined && tsMs >= this.nextSampleTs;
  }

  /**
   * One frame for the preview, with every box seen in it (detections and tracks). Call only when
   * `wantsSample` said so; the pixels are copied before this returns a promise.
   */
  sample(
    pixels: FramePixels,
    scene: { width: number; height: number; tsMs: number },
    boxes: readonly Box[],
  ): Promise<void> {
    const target = this.scene;
    if (!target) return Promise.resolve();
    this.nextSampleTs = scene.tsMs + this.options.sampleEverySec * 1000;
    return target.add(pixels, scene, boxes);
  }

  background(): Promise<Buffer> | undefined {
    return this.scene?.jpeg();
  }

  subscribe(listener: (frame: LiveFrame) => void, ended: () => void): (() => void) | undefined {
    if (!this.scene) return undefined;
    this.listeners.set(listener, ended);
    return () => this.listeners.delete(listener);
  }

  /** After each counted frame while on: positions to subscribers, throttled; crossings all kept. */
  frameCounted(
    users: readonly RoadUser[],
    crossings: readonly Crossing[],
    scene: { width: number; height: number },
  ): void {
    if (!this.scene || this.listeners.size === 0) return;
    for (const c of crossings) this.pendingCrossings.push(c);
    const now = this.now();
    if (now - this.lastLiveMs < this.options.liveEveryMs) return;
    this.lastLiveMs = now;
    const { width, height } = scene;
    const round = (v: number) => Math.round(v * 10_000) / 10_000;
    const frame: LiveFrame = {
      ts: new Date(now).toISOString(),
      positions: users
        .filter((u) => u.confirmed)
        .map((u) => ({
          id: u.trackId,
          mode: u.mode,
          seen: u.seen,
          box: [
            round(u.box.x1 / width),
            round(u.box.y1 / height),
            round(u.box.x2 / width),
            round(u.box.y2 / height),
          ],
        })),
      crossings: this.pendingCrossings,
    };
    this.pendingCrossings = [];
    for (const listener of this.listeners.keys()) listener(frame);
  }
}

export function setupOptionsFrom(config: {
  readonly setup: { readonly maxMinutes: number; readonly sampleEverySec: number };
}): SetupOptions {
  return {
    maxMinutes: config.setup.maxMinutes,
    sampleEverySec: config.setup.sampleEverySec,
    liveEveryMs: 200,
    background: DEFAULT_BACKGROUND_OPTIONS,
  };
}
