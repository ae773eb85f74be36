import { familyOf } from "../domain/classes.ts";
import type { Detection } from "../domain/types.ts";
import { WHOLE_VIEW } from "../domain/view.ts";
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
  /** NMS group per class id: classes of one family of road users suppress each other. */
  readonly nmsGroups: Int32Array;
}

/** One NMS group per family of road users (domain/classes.ts); any other label is its own group. */
export function nmsGroupsFor(labels: readonly string[]): Int32Array {
  const ids = new Map<string, number>();
  return Int32Array.from(labels, (label) => {
    const family = familyOf(label);
    let id = ids.get(family);
    if (id === undefined) {
      id = ids.size;
      ids.set(family, id);
    }
    return id;
  });
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
    const kept = nonMaxSuppression(
      c,
      this.setup.iou,
      this.setup.maxDetections,
      this.scratch,
      this.setup.nmsGroups,
    );
    // source pixels -> the scene: the source may show only a region of it (a cropped view)
    const v = geometry.view ?? WHOLE_VIEW;
    const sceneWidth = scene ? scene.width : geometry.srcWidth / v.width;
    const sceneHeight = scene ? scene.height : geometry.srcHeight / v.height;
    const sx = (sceneWidth * v.width) / geometry.srcWidth;
    const sy = (sceneHeight * v.height) / geometry.srcHeight;
    const ox = sceneWidth * v.x;
    const oy = sceneHeight * v.y;
    const detections: Detection[] = new Array(kept);
    for (let k = 0; k < kept; k++) {
      const i = this.scratch.keep[k] as number;
      const classId = c.classId[i] as number;
      detections[k] = {
        classId,
        label: info.labels[classId] ?? `class${classId}`,
        score: c.score[i] as number,
        box: {
          x1: toSourceX(geometry, c.x1[i] as number) * sx + ox,
          y1: toSourceY(geometry, c.y1[i] as number) * sy + oy,
          x2: toSourceX(geometry, c.x2[i] as number) * sx + ox,
          y2: toSourceY(geometry, c.y2[i] as number) * sy + oy,
        },
      };
    }
    return detections;
  }
}
