/**
 * The one percentile of the bench, and the formatting of its figures.
 *
 * Percentiles interpolate linearly between the two nearest ranks: the sorted values sit at
 * positions 0 … n − 1 and the p-th percentile is read at position p / 100 × (n − 1) (numpy's and
 * the spreadsheets' default). The median of an even count is then the mean of the middle two, and
 * the p90 of 10 values lies between the 9th and the 10th instead of being the largest.
 */

/** The p-th percentile (0 … 100) of `values`; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  return percentileOfSorted(sortedCopy(values), p);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Median and p90, the pair most tables of the bench print. */
export function medianAndP90(values: readonly number[]): { median: number; p90: number } {
  const sorted = sortedCopy(values);
  return { median: percentileOfSorted(sorted, 50), p90: percentileOfSorted(sorted, 90) };
}

function sortedCopy(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (p / 100) * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

/** Milliseconds with two decimals, right-aligned in a table column `width` characters wide. */
export function msColumn(ms: number, width = 7): string {
  return ms.toFixed(2).padStart(width);
}

const BYTES_PER_MB = 1048576;

/** A byte count in MB (2^20 bytes), as a number. */
export function bytesToMb(bytes: number): number {
  return bytes / BYTES_PER_MB;
}

/** A byte count as MB (2^20 bytes) with `decimals` decimals, for printing. */
export function formatMb(bytes: number, decimals = 0): string {
  return bytesToMb(bytes).toFixed(decimals);
}
