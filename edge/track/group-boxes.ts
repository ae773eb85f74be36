import { familyOf } from "../domain/classes.ts";
import type { Box, Detection } from "../domain/types.ts";

/**
 * A member lies at least this share of its own area inside the group box. A road user beside or
 * behind another pokes out of a box drawn around the other alone; one boxed together with it does not.
 */
const INSIDE = 0.85;
/**
 * A member is at most this share of the group box's area: a box about the group's size is the same
 * road user seen twice (which NMS handles), not a part of it.
 */
const MEMBER_AREA = 0.7;
/**
 * The members' combined extent (the box around them all) overlaps the group box at least this much
 * (IoU): the group box is no more than them. A bus with two cars in front of it reaches far above
 * them (about 0.5 when they cover its lower half), so it stays.
 */
const HULL_IOU = 0.7;

/**
 * Whether a detection of family `member` may be one of those a box of family `group` holds: its own
 * family, or riders and their two-wheelers inside a vehicle's box (a dense group of motorbikes boxed
 * as one bus). A person is never made of vehicles.
 */
function mayHold(group: string, member: string): boolean {
  return member === group || (group === "vehicle" && (member === "two-wheeler" || member === "person"));
}

/**
 * ...and fill it: their areas inside it add up to at least this share of it. People at a bus's
 * windows and in front of it can reach from its top to its wheels at both ends, but cover a sixth of
 * it; cars nose to tail, walkers side by side or motorbikes with their riders fill most of theirs.
 */
const FILL = 0.5;

const area = (b: Box): number => Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);

/**
 * Finds detections that are two or more road users boxed as one. Detectors do this where road users
 * hide each other: a platoon of cars seen from behind comes out as the cars and a "bus" around two of
 * them, two walkers side by side as each walker and a "person" around both, a dense group of
 * motorbikes as the bikes, their riders and a bus around them. The family's NMS keeps such a box (its
 * overlap with each member is small), and tracked it is a road user that is not there. The box is
 * recognised by what it holds, not by its class or size: at least two other road users lie inside
 * it, together span it and fill most of it. Others of its own family count only when the detector is
 * at least as sure of them as of it: that keeps a whole road user seen also in parts (a lorry boxed at
 * 0.45 and its cab and trailer at 0.35 and 0.23, a shared junction clip, is one lorry). People at a
 * bus's windows and in front of it may span it but do not fill it, so a real bus stays. Allocates
 * nothing per frame once its flags have grown to the largest frame's detections.
 */
export class GroupBoxes {
  private flags = new Uint8Array(64);
  /** Detection indices in the order of their boxes' centre x. */
  private order = new Uint32Array(64);
  private centreX = new Float64Array(64);
  private families: string[] = [];
  private readonly byCentreX = (a: number, b: number): number =>
    (this.centreX[a] as number) - (this.centreX[b] as number);

  /** Per detection, 1 when it is other road users boxed as one (valid up to `detections.length`). */
  mark(detections: readonly Detection[]): Uint8Array {
    const n = detections.length;
    if (this.flags.length < n) {
      this.flags = new Uint8Array(n * 2);
      this.order = new Uint32Array(n * 2);
      this.centreX = new Float64Array(n * 2);
    }
    const flags = this.flags;
    flags.fill(0, 0, n);
    if (n < 3) return flags;
    const families = this.families;
    families.length = n;
    const centreX = this.centreX;
    for (let i = 0; i < n; i++) {
      const d = detections[i] as Detection;
      families[i] = familyOf(d.label);
      centreX[i] = (d.box.x1 + d.box.x2) / 2;
    }
    // A member lies mostly inside the group box, so its centre does (a centre outside leaves half
    // of it out): the candidates for a box are the detections whose centre x lies within it, found
    // in the order of centre x. A crowd of 300 then costs a few thousand pairs, not 90,000.
    const order = this.order.subarray(0, n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort(this.byCentreX);
    for (let g = 0; g < n; g++) {
      const group = (detections[g] as Detection).box;
      const groupScore = (detections[g] as Detection).score;
      const groupFamily = families[g] as string;
      const groupArea = area(group);
      if (groupArea <= 0) continue;
      let members = 0;
      let filled = 0;
      let x1 = Number.POSITIVE_INFINITY;
      let y1 = Number.POSITIVE_INFINITY;
      let x2 = Number.NEGATIVE_INFINITY;
      let y2 = Number.NEGATIVE_INFINITY;
      for (let k = firstAtOrAbove(order, centreX, group.x1); k < n; k++) {
        const m = order[k] as number;
        if ((centreX[m] as number) > group.x2) break;
        if (m === g) continue;
        const member = detections[m] as Detection;
        const b = member.box;
        const cy = (b.y1 + b.y2) / 2;
        if (cy < group.y1 || cy > group.y2) continue;
        const family = families[m] as string;
        if (!mayHold(groupFamily, family)) continue;
        if (family === groupFamily && member.score < groupScore) continue;
        const memberArea = area(b);
        if (memberArea <= 0 || memberArea > MEMBER_AREA * groupArea) continue;
        const iw = Math.min(b.x2, group.x2) - Math.max(b.x1, group.x1);
        const ih = Math.min(b.y2, group.y2) - Math.max(b.y1, group.y1);
        if (iw <= 0 || ih <= 0 || iw * ih < INSIDE * memberArea) continue;
        members++;
        filled += iw * ih;
        if (b.x1 < x1) x1 = b.x1;
        if (b.y1 < y1) y1 = b.y1;
        if (b.x2 > x2) x2 = b.x2;
        if (b.y2 > y2) y2 = b.y2;
      }
      if (members < 2 || filled < FILL * groupArea) continue;
      const iw = Math.min(x2, group.x2) - Math.max(x1, group.x1);
      const ih = Math.min(y2, group.y2) - Math.max(y1, group.y1);
      const inter = Math.max(0, iw) * Math.max(0, ih);
      const hullArea = (x2 - x1) * (y2 - y1);
      if (inter / (hullArea + groupArea - inter) >= HULL_IOU) flags[g] = 1;
    }
    return flags;
  }
}

/** The first position in `order` whose centre x is at least `x` (binary search). */
function firstAtOrAbove(order: Uint32Array, centreX: Float64Array, x: number): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((centreX[order[mid] as number] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
