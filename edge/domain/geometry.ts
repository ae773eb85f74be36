import type { Box } from "./types.ts";

export function boxArea(b: Box): number {
  return Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);
}

export function intersectionArea(a: Box, b: Box): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  return w > 0 && h > 0 ? w * h : 0;
}

export function iou(a: Box, b: Box): number {
  const inter = intersectionArea(a, b);
  if (inter === 0) return 0;
  return inter / (boxArea(a) + boxArea(b) - inter);
}

import type { Anchor } from "./counting-settings.ts";

export type { Anchor };

/** The point of a box that stands for the object: feet and wheels touch the ground at the bottom centre. */
export function anchorPoint(b: Box, anchor: Anchor): { x: number; y: number } {
  const x = (b.x1 + b.x2) / 2;
  return { x, y: anchor === "bottom-center" ? b.y2 : anchor === "center" ? (b.y1 + b.y2) / 2 : b.y1 };
}

/** z of (b - a) x (p - a): negative when p is on the left of a->b as seen on the image (y down). */
export function cross(ax: number, ay: number, bx: number, by: number, px: number, py: number): number {
  return (bx - ax) * (py - ay) - (by - ay) * (px - ax);
}

/** Whether segments p1-p2 and q1-q2 intersect (touching counts). */
export function segmentsIntersect(
  p1x: number,
  p1y: number,
  p2x: number,
  p2y: number,
  q1x: number,
  q1y: number,
  q2x: number,
  q2y: number,
): boolean {
  const d1 = cross(q1x, q1y, q2x, q2y, p1x, p1y);
  const d2 = cross(q1x, q1y, q2x, q2y, p2x, p2y);
  const d3 = cross(p1x, p1y, p2x, p2y, q1x, q1y);
  const d4 = cross(p1x, p1y, p2x, p2y, q2x, q2y);
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
  const on = (ax: number, ay: number, bx: number, by: number, px: number, py: number, d: number) =>
    d === 0 &&
    Math.min(ax, bx) <= px &&
    px <= Math.max(ax, bx) &&
    Math.min(ay, by) <= py &&
    py <= Math.max(ay, by);
  return (
    on(q1x, q1y, q2x, q2y, p1x, p1y, d1) ||
    on(q1x, q1y, q2x, q2y, p2x, p2y, d2) ||
    on(p1x, p1y, p2x, p2y, q1x, q1y, d3) ||
    on(p1x, p1y, p2x, p2y, q2x, q2y, d4)
  );
}

/**
 * Distance from p to a polyline and the side it is on: -1 left of the drawing direction (as seen on
 * the image), +1 right, 0 exactly on it. The side is taken from the nearest segment.
 */
export function sideOfPolyline(
  points: readonly { x: number; y: number }[],
  px: number,
  py: number,
): { side: -1 | 0 | 1; distance: number } {
  let best = Number.POSITIVE_INFINITY;
  let side: -1 | 0 | 1 = 0;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const len2 = dx * dx + dy * dy;
    const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - a.x) * dx + (py - a.y) * dy) / len2));
    const d = Math.hypot(px - (a.x + t * dx), py - (a.y + t * dy));
    if (d < best) {
      best = d;
      const c = cross(a.x, a.y, b.x, b.y, px, py);
      side = c < 0 ? -1 : c > 0 ? 1 : 0;
    }
  }
  return { side, distance: best };
}

/** Even-odd point-in-polygon test. */
export function pointInPolygon(
  polygon: readonly { x: number; y: number }[],
  px: number,
  py: number,
): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const a = polygon[i]!;
    const b = polygon[j]!;
    if (a.y > py !== b.y > py && px < ((b.x - a.x) * (py - a.y)) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}

/** IoU of the two boxes each widened by `f` of its own size on every side (buffered IoU), without allocating. */
export function bufferedIou(a: Box, b: Box, f: number): number {
  const adx = (a.x2 - a.x1) * f;
  const ady = (a.y2 - a.y1) * f;
  const bdx = (b.x2 - b.x1) * f;
  const bdy = (b.y2 - b.y1) * f;
  const ax1 = a.x1 - adx;
  const ay1 = a.y1 - ady;
  const ax2 = a.x2 + adx;
  const ay2 = a.y2 + ady;
  const bx1 = b.x1 - bdx;
  const by1 = b.y1 - bdy;
  const bx2 = b.x2 + bdx;
  const by2 = b.y2 + bdy;
  const w = Math.min(ax2, bx2) - Math.max(ax1, bx1);
  if (w <= 0) return 0;
  const h = Math.min(ay2, by2) - Math.max(ay1, by1);
  if (h <= 0) return 0;
  const inter = w * h;
  return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter);
}
