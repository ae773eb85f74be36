import type { LineCount, Mode } from "./types.ts";

/** A line, direction and mode as one string, for maps and Prometheus-free totals. */
export type CountKey = `${string}:${string}>${string}:${Mode}`;

export function countKey(c: {
  readonly line: string;
  readonly from: string;
  readonly to: string;
  readonly mode: Mode;
}): CountKey {
  return `${c.line}:${c.from}>${c.to}:${c.mode}`;
}

/** Crossings summed per line, direction and mode (aggregates only), rows kept typed. */
export class CrossingTotals {
  private readonly rows = new Map<
    CountKey,
    { line: string; from: string; to: string; mode: Mode; count: number }
  >();

  add(
    c: { readonly line: string; readonly from: string; readonly to: string; readonly mode: Mode },
    n = 1,
  ): void {
    const k = countKey(c);
    const row = this.rows.get(k);
    if (row) row.count += n;
    else this.rows.set(k, { line: c.line, from: c.from, to: c.to, mode: c.mode, count: n });
  }

  /** Rows in the order they first appeared. */
  all(): readonly LineCount[] {
    return [...this.rows.values()];
  }

  /** Count per key, for comparisons. */
  byKey(): Map<CountKey, number> {
    return new Map([...this.rows].map(([k, r]) => [k, r.count]));
  }
}
