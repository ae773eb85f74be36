import type { DetectionRegionInfo } from "../api/contract.ts";
import { cropsWhileCapturing, pictureAspect, type SourceKind } from "../capture/open.ts";
import type { Config } from "../config/schema.ts";
import type { Frame } from "../domain/types.ts";
import { detectionView, isWholeView, sameView, type ViewRect, WHOLE_VIEW } from "../domain/view.ts";
import type { Logger } from "./logger.ts";

/** What the region is decided from, read whenever it is decided again. */
export interface RegionInputs {
  /** The lines and zones counted now. */
  geometry(): Parameters<typeof detectionView>[2];
  /** Set-up mode shows the scene: meanwhile the detector looks at all of it. */
  wholeViewWanted(): boolean;
  /** The model input's width / height; undefined before the model is loaded. */
  inputAspect(): number | undefined;
}

/** The camera as opened for counting (`openCamera`). */
export interface OpenedCamera {
  readonly kind: SourceKind;
  readonly replay: boolean;
  readonly source: { restart(): void };
}

/**
 * The part of the view the detector looks at (`camera.region`; all of it during set-up). A region
 * around the lines takes the picture's shape, read before the first frame where the source can tell
 * it and from the first frame otherwise. When the region changes, a live camera that crops while
 * capturing is restarted for it (a moment without frames); a replay keeps the crop it started with,
 * as restarting would read the file again from its start.
 */
export class DetectionRegion {
  private view: ViewRect = WHOLE_VIEW;
  /** The whole view's width / height, once known. */
  private sceneAspect: number | undefined;
  private restartCapture: (() => void) | undefined;

  constructor(
    private readonly camera: Pick<Config["camera"], "region" | "regionMargin" | "source" | "stallTimeoutSec">,
    private readonly inputs: RegionInputs,
    /** The capture stage's log. */
    private readonly log: Pick<Logger, "info" | "warn">,
    /** Counts the capture restarts a new region caused. */
    private readonly restarts: { inc(): void },
  ) {}

  /** The region now (an ffmpeg capture reads it at each start; the detector crops JPEG frames to it). */
  get current(): ViewRect {
    return this.view;
  }

  /** What the set-up page needs to draw the region as lines are moved. */
  info(): DetectionRegionInfo {
    return {
      setting: this.camera.region,
      margin: this.camera.regionMargin,
      inputAspect: this.inputs.inputAspect() ?? null,
    };
  }

  /**
   * The configured camera was opened. The crop around the lines takes the picture's shape: read
   * before the first frame, it saves a live stream the restart after it, and a recording (read once)
   * needs it.
   */
  async cameraOpened(opened: OpenedCamera): Promise<void> {
    if (cropsWhileCapturing(opened.kind) && !opened.replay)
      this.restartCapture = () => opened.source.restart();
    if (this.camera.region !== "lines") return;
    try {
      const aspect = await pictureAspect(this.camera, opened.kind);
      if (aspect !== undefined) this.sceneAspect = aspect;
    } catch (err) {
      // the capture fails on it next and says why; a live camera's shape is then learnt from its
      // first frame
      this.log.warn({ err: (err as Error).message }, "the picture's size is not known yet");
    }
  }

  /** Counting starts: the region the configuration asks for. */
  start(): void {
    this.view = this.wanted();
    this.log.info({ region: isWholeView(this.view) ? "whole" : this.view }, "detection region");
  }

  /** Every frame: a camera's shape not known yet is learnt from its first frame of the whole view. */
  frameSeen(frame: Frame): void {
    if (this.sceneAspect !== undefined || !isWholeView(frame.view)) return;
    this.sceneAspect = frame.width / frame.height;
    this.changed();
  }

  /** Lines, zones or set-up changed: the detector looks at the new region from the next frame on. */
  changed(): void {
    const next = this.wanted();
    if (sameView(next, this.view)) return;
    this.view = next;
    this.log.info({ region: isWholeView(next) ? "whole" : next }, "detection region changed");
    if (this.restartCapture) {
      this.restarts.inc();
      this.restartCapture();
    }
  }

  private wanted(): ViewRect {
    if (this.inputs.wholeViewWanted()) return WHOLE_VIEW;
    const { region, regionMargin } = this.camera;
    const inputAspect = this.inputs.inputAspect();
    const shape =
      this.sceneAspect && inputAspect ? { sceneAspect: this.sceneAspect, inputAspect } : undefined;
    return detectionView(region, regionMargin, this.inputs.geometry(), shape);
  }
}
