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
 * ...and fill it: the part of it they cover (their union, on a 16 x 16 grid over it) is at least
 * this share. Cars nose to tail, walkers side by side or motorbikes with their riders fill most of
 * theirs; people in front of a bus, crowding each other, cover its lower half at most.
 */
const FILL = 0.5;
const FILL_GRID = 16;
/** A person in a vehicle's box is one of its members only as a rider: over this share of a two-wheeler member. */
const RIDING = 0.2;

const area = (b: Box): number => Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);

const overlap = (a: Box, b: Box): number =>
  Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1)) *
  Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));

/**
 * Finds detections that are two or more road users boxed as one. Detectors do this where road users
 * hide each other: a platoon of cars seen from behind comes out as the cars and a "bus" around two of
 * them, two walkers side by side as each walker and a "person" around both, a dense group of
 * motorbikes as the bikes, their riders and a bus around them. The family's NMS keeps such a box (its
 * overlap with each member is small), and tracked it is a road user that is not there. The box is
 * recognised by what it holds: at least two other road users lie inside it, together span it and
 * fill most of it.
 *
 * What may make up a box: others of its own family the detector is at least as sure of (a lorry
 * boxed at 0.45 with its cab and trailer at 0.35 and 0.23, a shared junction clip, is one lorry); in
 * a bus's or a car's box also two-wheelers and their riders, but never people on foot (people in
 * front of a bus or at its windows are not what it is made of), and at least two members that are
 * not people. A lorry's box is never taken apart: a car transporter holds cars, a cab its driver.
 * Allocates nothing per frame once its arrays have grown to the largest frame's detections.
 */
export class GroupBoxes {
  private flags = new Uint8Array(64);
  /** Detection indices in the order of their boxes' centre x. */
  private order = new Uint32Array(64);
  private centreX = new Float64Array(64);
  /** The members found for the box being judged. */
  private members = new Uint32Array(64);
  private families: string[] = [];
  private readonly cells = new Uint8Array(FILL_GRID * FILL_GRID);

  /** Per detection, 1 when it is other road users boxed as one (valid up to `detections.length`). */
  mark(detections: readonly Detection[]): Uint8Array {
    const n = detections.length;
    if (this.flags.length < n) {
      this.flags = new Uint8Array(n * 2);
      this.order = new Uint32Array(n * 2);
      this.centreX = new Float64Array(n * 2);
      this.members = new Uint32Array(n * 2);
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
    const order = this.order;
    sortByKey(order, centreX, n);
    for (let g = 0; g < n; g++) {
      const groupDetection = detections[g] as Detection;
      if (groupDetection.label === "truck") continue;
      const group = groupDetection.box;
      const groupFamily = families[g] as string;
      const groupArea = area(group);
      if (groupArea <= 0) continue;
      let found = 0;
      for (let k = firstAtOrAbove(order, centreX, n, group.x1); k < n; k++) {
        const m = order[k] as number;
        if ((centreX[m] as number) > group.x2) break;
        if (m === g) continue;
        const member = detections[m] as Detection;
        const b = member.box;
        const cy = (b.y1 + b.y2) / 2;
        if (cy < group.y1 || cy > group.y2) continue;
        const family = families[m] as string;
        if (family === groupFamily) {
          if (member.score < groupDetection.score) continue;
        } else if (groupFamily !== "vehicle" || (family !== "two-wheeler" && family !== "person")) continue;
        const memberArea = area(b);
        if (memberArea <= 0 || memberArea > MEMBER_AREA * groupArea) continue;
        if (overlap(b, group) < INSIDE * memberArea) continue;
        this.members[found++] = m;
      }
      if (found < 2) continue;
      if (groupFamily === "vehicle") found = this.keepRiders(detections, found);
      if (found < 2) continue;
      if (this.judge(detections, group, groupArea, found)) flags[g] = 1;
    }
    return flags;
  }

  /**
   * In a vehicle's box: people only as riders of a two-wheeler member; at least two members that
   * are not people, or none are left. Returns the members kept (at the start of `members`).
   */
  private keepRiders(detections: readonly Detection[], found: number): number {
    const members = this.members;
    const families = this.families;
    let kept = 0;
    let vehicles = 0;
    for (let i = 0; i < found; i++) {
      const m = members[i] as number;
      if (families[m] === "person") {
        const person = (detections[m] as Detection).box;
        let riding = false;
        for (let j = 0; j < found && !riding; j++) {
          const w = members[j] as number;
          if (families[w] !== "two-wheeler") continue;
          const wheels = (detections[w] as Detection).box;
          riding = overlap(person, wheels) > RIDING * area(wheels);
        }
        if (!riding) continue;
      } else vehicles++;
      members[kept++] = m;
    }
    return vehicles >= 2 ? kept : 0;
  }

  /** Whether the members span the group box (their hull) and fill it (their union). */
  private judge(detections: readonly Detection[], group: Box, groupArea: number, found: number): boolean {
    const cells = this.cells;
    cells.fill(0);
    const cw = (group.x2 - group.x1) / FILL_GRID;
    const ch = (group.y2 - group.y1) / FILL_GRID;
    let x1 = Number.POSITIVE_INFINITY;
    let y1 = Number.POSITIVE_INFINITY;
    let x2 = Number.NEGATIVE_INFINITY;
    let y2 = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < found; i++) {
      const b = (detections[this.members[i] as number] as Detection).box;
      if (b.x1 < x1) x1 = b.x1;
      if (b.y1 < y1) y1 = b.y1;
      if (b.x2 > x2) x2 = b.x2;
      if (b.y2 > y2) y2 = b.y2;
      // the cells whose centres lie inside the member
      const c0 = Math.max(0, Math.ceil((b.x1 - group.x1) / cw - 0.5));
      const c1 = Math.min(FILL_GRID - 1, Math.floor((b.x2 - group.x1) / cw - 0.5));
      const r0 = Math.max(0, Math.ceil((b.y1 - group.y1) / ch - 0.5));
      const r1 = Math.min(FILL_GRID - 1, Math.floor((b.y2 - group.y1) / ch - 0.5));
      for (let r = r0; r <= r1; r++) cells.fill(1, r * FILL_GRID + c0, r * FILL_GRID + c1 + 1);
    }
    let covered = 0;
    for (let c = 0; c < cells.length; c++) covered += cells[c] as number;
    if (covered < FILL * cells.length) return false;
    const inter =
      Math.max(0, Math.min(x2, group.x2) - Math.max(x1, group.x1)) *
      Math.max(0, Math.min(y2, group.y2) - Math.max(y1, group.y1));
    return inter / ((x2 - x1) * (y2 - y1) + groupArea - inter) >= HULL_IOU;
  }
}

/** Sorts the first `n` of `order` (indices) by `key`: insertion sort, in place, nothing allocated. */
function sortByKey(order: Uint32Array, key: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = 1; i < n; i++) {
    const v = order[i] as number;
    const k = key[v] as number;
    let j = i - 1;
    while (j >= 0 && (key[order[j] as number] as number) > k) {
      order[j + 1] = order[j] as number;
      j--;
    }
    order[j + 1] = v;
  }
}

/** The first of the first `n` positions in `order` whose key is at least `x` (binary search). */
function firstAtOrAbove(order: Uint32Array, key: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((key[order[mid] as number] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
