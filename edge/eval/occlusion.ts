import type { Box } from "../domain/types.ts";
import type { GtBox } from "./mot.ts";

/** A nearer person hides the part of a farther one's box below their top when they cover this share of its width. */
const COVERED_WIDTH = 0.5;
/** Less than this share of a person's height left visible: a detector finds nothing. */
const MIN_VISIBLE = 0.3;

/**
 * Ground-truth boxes as a detector sees people who hide each other: whole boxes (MOTChallenge
 * annotates the whole extent, also of occluded people) cut where a nearer person covers them.
 * People stand on one ground plane, so of two overlapping people the one whose feet are lower in the
 * picture is nearer the camera; where they cover at least half of a farther person's width, the
 * farther person's box ends at the nearer one's top edge (the detector boxes the visible part). A
 * person left with less than `MIN_VISIBLE` of their height is not detected at all. Boxes keep their
 * identities and order; the undetected are left out.
 */
export function occludedByNearer(people: readonly GtBox[]): GtBox[] {
  const out: GtBox[] = [];
  for (const a of people) {
    const height = a.box.y2 - a.box.y1;
    const width = a.box.x2 - a.box.x1;
    let bottom = a.box.y2;
    for (const b of people) {
      if (b === a || b.box.y2 <= a.box.y2 || b.box.y1 >= bottom) continue;
      const overlap = Math.min(a.box.x2, b.box.x2) - Math.max(a.box.x1, b.box.x1);
      if (overlap >= COVERED_WIDTH * width) bottom = Math.max(a.box.y1, b.box.y1);
    }
    if (bottom - a.box.y1 < MIN_VISIBLE * height) continue;
    const box: Box = bottom === a.box.y2 ? a.box : { x1: a.box.x1, y1: a.box.y1, x2: a.box.x2, y2: bottom };
    out.push({ id: a.id, box });
  }
  return out;
}
