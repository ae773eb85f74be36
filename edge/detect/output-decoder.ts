import type { Detection } from "../domain/types.ts";
import { Candidates } from "./candidates.ts";
import { type DecodeParams, decodeOutputs, type OutputTensor } from "./decode.ts";
import type { DetectorInfo, Size } from "./detector.ts";
import { type InputGeometry, toSourceX, toSourceY } from "./letterbox.ts";
import { nonMaxSuppression } from "./nms.ts";

/** What decoding needs to know of a loaded model (plain data: it crosses to the worker's parent). */
export interface DecoderSetup {
  readonly info: Pick<DetectorInfo, "layout" | "labels">;
  readonly params: DecodeParams;
  readonly iou: number;
  readonly maxDetections: number;
}

/**
 * Model outputs into detections: the layout's decoder, NMS, and boxes mapped back to scene pixels.
 * Plain JavaScript over reused typed arrays, so it runs on whichever thread is free of the model.
 */
export class OutputDecoder {
  private readonly candidates = new Candidates(1024);
  private scratch = {
    order: new Uint32Array(1024),
    suppressed: new Uint8Array(1024),
    keep: new Uint32Array(1024),
  };

  constructor(readonly setup: DecoderSetup) {}

  /**
   * Detections in source-image pixels, best score first. When the frame was a scaled copy of the
   * scene (raw frames that the capture stage already shrank), `scene` gives the size boxes refer to.
   */
  decode(outputs: readonly OutputTensor[], geometry: InputGeometry, scene?: Size): Detection[] {
    const { info, params } = this.setup;
    decodeOutputs(info.layout, outputs, params, this.candidates);
    const c = this.candidates;
    if (this.scratch.order.length < c.count) {
      const n = c.count * 2;
      this.scratch = { order: new Uint32Array(n), suppressed: new Uint8Array(n), keep: new Uint32Array(n) };
    }
    const kept = nonMaxSuppression(c, this.setup.iou, this.setup.maxDetections, this.scratch);
    const sx = scene ? scene.width / geometry.srcWidth : 1;
    const sy = scene ? scene.height / geometry.srcHeight : 1;
    const detections: Detection[] = new Array(kept);
    for (let k = 0; k < kept; k++) {
      const i = this.scratch.keep[k] as number;
      const classId = c.classId[i] as number;
      detections[k] = {
        classId,
        label: info.labels[classId] ?? `class${classId}`,
        score: c.score[i] as number,
        box: {
          x1: toSourceX(geometry, c.x1[i] as number) * sx,
          y1: toSourceY(geometry, c.y1[i] as number) * sy,
          x2: toSourceX(geometry, c.x2[i] as number) * sx,
          y2: toSourceY(geometry, c.y2[i] as number) * sy,
        },
      };
    }
    return detections;
  }
}
