/**
 * Minimum-cost assignment for a rectangular cost matrix (rows <= cols or rows > cols), the
 * Kuhn-Munkres algorithm with potentials in O(n^2 m). Returns, per row, the assigned column or -1.
 * `cost[r * cols + c]`; use Infinity for forbidden pairs (never assigned).
 */
export function assignMinCost(cost: Float64Array, rows: number, cols: number): Int32Array {
  const result = new Int32Array(rows).fill(-1);
  if (rows === 0 || cols === 0) return result;
  const transpose = rows > cols;
  const n = transpose ? cols : rows;
  const m = transpose ? rows : cols;
  // Forbidden pairs get a large finite cost so the algorithm stays well defined; filtered afterwards.
  let maxFinite = 0;
  for (let i = 0; i < cost.length; i++)
    if (Number.isFinite(cost[i]!) && cost[i]! > maxFinite) maxFinite = cost[i]!;
  const BIG = (maxFinite + 1) * (n + 1) * 2;
  const a = (i: number, j: number) => {
    const v = transpose ? cost[j * cols + i]! : cost[i * cols + j]!;
    return Number.isFinite(v) ? v : BIG;
  };
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j] = row (1-based) assigned to column j
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Number.POSITIVE_INFINITY);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Number.POSITIVE_INFINITY;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = a(i0 - 1, j - 1) - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          const row = p[j]!;
          u[row] = u[row]! + delta;
          v[j] = v[j]! - delta;
        } else minv[j] = minv[j]! - delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  for (let j = 1; j <= m; j++) {
    const i = p[j]!;
    if (i === 0) continue;
    const row = transpose ? j - 1 : i - 1;
    const col = transpose ? i - 1 : j - 1;
    if (Number.isFinite(cost[row * cols + col]!)) result[row] = col;
  }
  return result;
}
