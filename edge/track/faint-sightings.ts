import { bufferedIou } from "../domain/geometry.ts";
import type { Box, Sighting } from "../domain/types.ts";

interface Slot {
  tsMs: number;
  count: number;
  /** x1, y1, x2, y2 per sighting. */
  boxes: Float64Array;
  families: string[];
  /** Id of the track holding each sighting; 0: free. */
  heldBy: Int32Array;
}

/**
 * Detections of the last seconds that no established track took: an object entering the view or
 * coming out of an occlusion is often detected faintly for a while before it scores high enough to
 * start a track. When a track starts, `traceBack` follows these sightings backwards, so the track's
 * origin is where the object was first seen and a line it crossed in the meantime is counted.
 * A ring of frames with preallocated storage: recording allocates nothing once warm.
 */
export class FaintSightings {
  private readonly slots: Slot[];
  private newest = -1;
  private filled = 0;

  /**
   * @param windowMs how far back a trace may reach
   * @param minIou overlap needed between consecutive sightings of one object; frames without one
   *   are bridged (a faint object is not detected in every frame), and the overlap bounds the
   *   bridge: the longer the gap, the farther a moving object has gone from its last sighting
   */
  constructor(
    private readonly windowMs: number,
    private readonly minIou: number,
    capacityFrames = 128,
  ) {
    this.slots = Array.from({ length: capacityFrames }, () => ({
      tsMs: 0,
      count: 0,
      boxes: new Float64Array(64),
      families: [],
      heldBy: new Int32Array(16),
    }));
  }

  /** Opens the slot of a new frame; `add` then records its untaken detections. */
  beginFrame(tsMs: number): void {
    this.newest = (this.newest + 1) % this.slots.length;
    this.filled = Math.min(this.filled + 1, this.slots.length);
    const slot = this.slots[this.newest] as Slot;
    slot.tsMs = tsMs;
    slot.count = 0;
  }

  /** Records a sighting of the current frame, free (`heldBy` 0) or held by a track. */
  add(box: Box, family: string, heldBy: number): void {
    const slot = this.slots[this.newest];
    if (!slot) return;
    const i = slot.count++;
    if (slot.boxes.length < slot.count * 4) {
      const grown = new Float64Array(slot.boxes.length * 2);
      grown.set(slot.boxes);
      slot.boxes = grown;
    }
    if (slot.heldBy.length < slot.count) {
      const grown = new Int32Array(slot.heldBy.length * 2);
      grown.set(slot.heldBy);
      slot.heldBy = grown;
    }
    slot.boxes[i * 4] = box.x1;
    slot.boxes[i * 4 + 1] = box.y1;
    slot.boxes[i * 4 + 2] = box.x2;
    slot.boxes[i * 4 + 3] = box.y2;
    slot.families[i] = family;
    slot.heldBy[i] = heldBy;
  }

  /**
   * The earliest sighting that leads, frame by frame, to `box` (seen at `tsMs`, after the frames
   * recorded so far): each step back the best-overlapping sighting of the same family, frames
   * without one skipped; where that sighting is held by a track, the past there is that track's and
   * the trace ends. The sightings used are then held by `trackId`, so two tracks never share a
   * past. Undefined when nothing leads there.
   */
  traceBack(box: Box, family: string, tsMs: number, trackId: number): Sighting | undefined {
    let current: Box = box;
    let found: Sighting | undefined;
    for (let back = 0; back < this.filled; back++) {
      const slot = this.slots[(this.newest - back + this.slots.length) % this.slots.length] as Slot;
      // too old, or from before the clock went back (a replay started over): not this object's past
      if (tsMs - slot.tsMs > this.windowMs || slot.tsMs > tsMs) break;
      let best = -1;
      let bestIou = this.minIou;
      for (let i = 0; i < slot.count; i++) {
        if (slot.families[i] !== family) continue;
        const candidate = boxAt(slot.boxes, i);
        const iou = bufferedIou(current, candidate, 0);
        if (iou >= bestIou) {
          best = i;
          bestIou = iou;
        }
      }
      if (best < 0) continue;
      if (slot.heldBy[best] !== 0) break;
      slot.heldBy[best] = trackId;
      current = boxAt(slot.boxes, best);
      found = { box: current, tsMs: slot.tsMs };
    }
    return found;
  }

  /** Frees the sightings a track held (it ended before it was confirmed). */
  release(trackId: number): void {
    for (let s = 0; s < this.filled; s++) {
      const slot = this.slots[s] as Slot;
      for (let i = 0; i < slot.count; i++) if (slot.heldBy[i] === trackId) slot.heldBy[i] = 0;
    }
  }
}

function boxAt(boxes: Float64Array, i: number): Box {
  return {
    x1: boxes[i * 4] as number,
    y1: boxes[i * 4 + 1] as number,
    x2: boxes[i * 4 + 2] as number,
    y2: boxes[i * 4 + 3] as number,
  };
}
