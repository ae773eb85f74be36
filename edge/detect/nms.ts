import type { Candidates } from "./candidates.ts";

/**
 * Greedy non-maximum suppression within groups of classes. Writes the indices of kept candidates,
 * best first, into `keep` and returns how many were kept. `groupOf[classId]` puts classes that
 * describe one kind of object into one group (car, bus and truck: one vehicle is one box, whatever
 * its two best classes), so they suppress each other; without it, each class is its own group.
 * `order` and `suppressed` are caller-owned scratch arrays (at least `c.count` long) so nothing is
 * allocated per frame.
 */
export function nonMaxSuppression(
  c: Candidates,
  iouThreshold: number,
  maxKept: number,
  scratch: { order: Uint32Array; suppressed: Uint8Array; keep: Uint32Array },
  groupOf?: Int32Array,
): number {
  const n = c.count;
  const order = scratch.order.subarray(0, n);
  for (let i = 0; i < n; i++) order[i] = i;
  const score = c.score;
  order.sort((a, b) => score[b]! - score[a]!);
  const suppressed = scratch.suppressed;
  suppressed.fill(0, 0, n);
  const { x1, y1, x2, y2, classId } = c;
  let kept = 0;
  for (let oi = 0; oi < n && kept < maxKept; oi++) {
    const i = order[oi]!;
    if (suppressed[i]) continue;
    scratch.keep[kept++] = i;
    const ax1 = x1[i]!;
    const ay1 = y1[i]!;
    const ax2 = x2[i]!;
    const ay2 = y2[i]!;
    const areaA = (ax2 - ax1) * (ay2 - ay1);
    const cls = classId[i]!;
    const group = groupOf ? groupOf[cls]! : cls;
    for (let oj = oi + 1; oj < n; oj++) {
      const j = order[oj]!;
      if (suppressed[j] || (groupOf ? groupOf[classId[j]!]! : classId[j]!) !== group) continue;
      const w = Math.min(ax2, x2[j]!) - Math.max(ax1, x1[j]!);
      if (w <= 0) continue;
      const h = Math.min(ay2, y2[j]!) - Math.max(ay1, y1[j]!);
      if (h <= 0) continue;
      const inter = w * h;
      const union = areaA + (x2[j]! - x1[j]!) * (y2[j]! - y1[j]!) - inter;
      if (inter > iouThreshold * union) suppressed[j] = 1;
    }
  }
  return kept;
}
