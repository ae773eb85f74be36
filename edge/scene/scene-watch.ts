import type { Logger } from "pino";
import type { Frame } from "../domain/types.ts";
import { sameView, type ViewRect, WHOLE_VIEW } from "../domain/view.ts";
import {
  type SceneChange,
  SceneCheck,
  type SceneFlags,
  type SceneNormal,
  type SceneState,
  sceneStates,
} from "./scene-check.ts";
import { smallPicture } from "./small-picture.ts";

/** Where what was learnt of each part of the view is kept across restarts (`CountStore` has it). */
export interface SceneNormals {
  sceneNormal(view: string): string | undefined;
  saveSceneNormal(view: string, normal: string): void;
}

export interface SceneWatchOptions {
  /** The kept normals; undefined while the database is not open (nothing is resumed or kept). */
  readonly normals: () => SceneNormals | undefined;
  /** The scene stage's log: resumed normals, states raised and cleared (the measures, never a pixel). */
  readonly log: Pick<Logger, "info" | "warn">;
  /** States were just raised or cleared; `flags` are the states raised now. */
  readonly changed: (changes: readonly SceneChange[], flags: SceneFlags) => void;
}

/** The scene states raised now, since when (the earliest), and whether the normal is being learnt. */
export interface SceneStatus {
  readonly states: SceneState[];
  readonly since: string | null;
  readonly learning: boolean;
}

/** What the scene check learnt is kept this often (frame time) while the view is healthy. */
export const SCENE_SAVE_MS = 60_000;

/**
 * JPEG frames closer than this (frame time) to the last one checked share its result: at most five
 * decodings for the check per second of camera time. The states' rules act over seconds, and each
 * check of a JPEG frame first decodes it (a few ms of libvips' time, more on a Pi). Raw frames cost
 * 0.15 ms a check and are all checked: frame to frame, the `frozen` rule tells a stuck stream (a
 * change only at each key frame) from a live one; checks 200 ms apart would see a change in one of
 * five where key frames come every second.
 */
export const SCENE_CHECK_MS = 200;

/**
 * The scene check of a running counter, called once per frame: it learns the normal of the part of
 * the view the frames show (or resumes what an earlier run kept of it), keeps it while the view is
 * healthy, and reports every state raised or cleared.
 */
export class SceneWatch {
  /** The part of the view the check learnt its normal on (another one is learnt afresh). */
  private view: ViewRect | undefined;
  private savedMs = Number.NEGATIVE_INFINITY;
  /** Frame time of the last JPEG frame checked. */
  private checkedMs = Number.NEGATIVE_INFINITY;
  /** Set-up just ended: the view is learnt afresh, not resumed, until it has been learnt. */
  private afterSetup = false;

  constructor(
    private readonly o: SceneWatchOptions,
    readonly check = new SceneCheck(),
  ) {}

  /**
   * The check on a frame's pixels, to be called before the detector takes them: raw pixels at once;
   * a JPEG is decoded small in libvips' thread (the promise), beside the detector's own decoding.
   */
  observe(frame: Frame): SceneFlags | Promise<SceneFlags> {
    const pixels = frame.pixels;
    if (pixels.kind !== "encoded")
      return this.observePixels(
        pixels.data,
        pixels.width,
        pixels.height,
        frame.view ?? WHOLE_VIEW,
        frame.tsMs,
      );
    // an encoded frame is checked whole (the detector crops it)
    const sinceChecked = frame.tsMs - this.checkedMs;
    if (sinceChecked >= 0 && sinceChecked < SCENE_CHECK_MS && this.view && sameView(WHOLE_VIEW, this.view))
      return this.check.current;
    this.checkedMs = frame.tsMs;
    return this.observeJpeg(pixels.data, frame.tsMs);
  }

  /** Set-up ended: the view the installer just approved is learnt as the scene's new normal. */
  setupEnded(atMs: number): void {
    this.afterSetup = true;
    this.checkedMs = Number.NEGATIVE_INFINITY;
    this.relearn(atMs);
  }

  status(): SceneStatus {
    const check = this.check;
    const states = sceneStates(check.current);
    let since: number | undefined;
    for (const s of states) {
      const at = check.raisedSince(s);
      if (at !== undefined && (since === undefined || at < since)) since = at;
    }
    return {
      states,
      since: since === undefined ? null : new Date(since).toISOString(),
      learning: check.learning,
    };
  }

  private async observeJpeg(jpeg: Buffer, tsMs: number): Promise<SceneFlags> {
    const small = await smallPicture(jpeg);
    // an image that cannot be decoded is the detector's to count: the states stay as they were
    if (!small) return this.check.current;
    return this.observePixels(small.data, small.width, small.height, WHOLE_VIEW, tsMs);
  }

  private observePixels(
    rgb: Buffer,
    width: number,
    height: number,
    view: ViewRect,
    tsMs: number,
  ): SceneFlags {
    const check = this.check;
    if (!this.view || !sameView(view, this.view)) {
      // another part of the view: what an earlier run learnt of it, or learnt afresh
      this.view = view;
      this.savedMs = Number.NEGATIVE_INFINITY;
      if (this.afterSetup || !this.resume(view, tsMs)) this.relearn(tsMs);
    }
    const flags = check.observe(rgb, width, height, tsMs);
    if (check.changes.length > 0) this.report();
    // what was learnt of a healthy view is kept (once learnt, then every minute) for the next start
    if (flags === 0 && !check.learning && tsMs - this.savedMs >= SCENE_SAVE_MS) {
      this.savedMs = tsMs;
      this.afterSetup = false;
      this.save(view);
    }
    return flags;
  }

  private resume(view: ViewRect, tsMs: number): boolean {
    try {
      const kept = this.o.normals()?.sceneNormal(viewKey(view));
      if (!kept || !this.check.resume(JSON.parse(kept) as SceneNormal, tsMs)) return false;
    } catch {
      return false; // an unreadable record: learnt afresh
    }
    this.o.log.info("scene normal resumed from the last run");
    return true;
  }

  private save(view: ViewRect): void {
    const normal = this.check.normal();
    if (!normal) return;
    try {
      this.o.normals()?.saveSceneNormal(viewKey(view), JSON.stringify(normal));
    } catch {
      // the database's trouble is reported by /health and the status; the next minute tries again
    }
  }

  /** The scene's normal and reference are learnt anew from the next frames (raised states clear). */
  private relearn(atMs: number): void {
    this.savedMs = Number.NEGATIVE_INFINITY;
    this.check.relearn(atMs);
    if (this.check.changes.length > 0) this.report();
  }

  /** Logs the states the check just raised or cleared, then tells the counter. */
  private report(): void {
    const check = this.check;
    const m = check.measures;
    // the measures say why, and hold no pixel
    const measures = {
      meanLuma: Math.round(m.meanLuma),
      clippedShare: Math.round(m.clippedShare * 100) / 100,
      textureLostShare: Math.round(m.textureLostShare * 100) / 100,
      layoutChange: Math.round(m.layoutChange * 100) / 100,
    };
    for (const c of check.changes) {
      const at = new Date(c.atMs).toISOString();
      if (c.raised)
        this.o.log.warn({ state: c.state, at, ...measures }, `scene ${c.state}: the counter cannot see`);
      else this.o.log.info({ state: c.state, at, ...measures }, `scene ${c.state} cleared`);
    }
    this.o.changed(check.changes, check.current);
  }
}

/** The part of the view a scene normal belongs to, as a key. */
function viewKey(v: ViewRect): string {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return `${r(v.x)},${r(v.y)},${r(v.width)},${r(v.height)}`;
}
