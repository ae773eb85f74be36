import { iou } from "../domain/geometry.ts";
import type { RoadUser } from "../domain/types.ts";
import type { GtBox } from "./mot.ts";

/** A counted bottom edge this far (in the person's true height) from the true feet is off. */
export const FEET_TOLERANCE = 0.2;

export interface FeetScore {
  /** Seen, confirmed road users matched to a ground-truth person (IoU >= 0.5). */
  readonly matched: number;
  /** Of those, how many had the bottom edge they are counted by off the true feet by more than `FEET_TOLERANCE`. */
  readonly off: number;
}

/**
 * How well the boxes the counters see place a person's feet, against ground-truth boxes (which are
 * whole, also where the person is occluded): a bottom-centre anchor crosses lines where these are.
 */
export class FeetAccumulator {
  private matched = 0;
  private off = 0;

  add(users: readonly RoadUser[], truth: readonly GtBox[]): void {
    for (const u of users) {
      if (!u.seen || !u.confirmed) continue;
      let best: GtBox | undefined;
      let bestIou = 0.5;
      for (const g of truth) {
        const v = iou(g.box, u.box);
        if (v >= bestIou) {
          bestIou = v;
          best = g;
        }
      }
      if (!best) continue;
      this.matched++;
      const height = Math.max(1, best.box.y2 - best.box.y1);
      if (Math.abs(u.box.y2 - best.box.y2) > FEET_TOLERANCE * height) this.off++;
    }
  }

  result(): FeetScore {
    return { matched: this.matched, off: this.off };
  }
}
