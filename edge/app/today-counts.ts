import { CrossingTotals } from "../domain/crossing-totals.ts";
import type { IntervalCounts, LineCount } from "../domain/types.ts";
import type { CountStore } from "../store/store.ts";

/** The stored sums are read again at most this often (the page asks every second or so). */
const REREAD_MS = 10_000;

/**
 * Crossings since local midnight per line, direction and mode, for the page: the stored intervals
 * summed by the store (`CountStore.lineTotals`) plus the interval in progress. Survives restarts,
 * unlike the totals since start.
 */
export class TodayCounts {
  private stored:
    | { readonly sinceMs: number; readonly readAtMs: number; readonly lines: readonly LineCount[] }
    | undefined;

  constructor(
    /** The history; undefined while the database is not available. */
    private readonly store: () => Pick<CountStore, "lineTotals"> | undefined,
    /** The interval in progress, as it would be closed now. */
    private readonly open: (nowMs: number) => IntervalCounts | undefined,
  ) {}

  at(nowMs: number): LineCount[] {
    const midnight = new Date(nowMs);
    midnight.setHours(0, 0, 0, 0);
    const sinceMs = midnight.getTime();
    if (!this.stored || this.stored.sinceMs !== sinceMs || nowMs - this.stored.readAtMs > REREAD_MS) {
      let lines: LineCount[] = [];
      try {
        lines = this.store()?.lineTotals(sinceMs, nowMs + 1) ?? [];
      } catch {
        lines = []; // the database's trouble is reported by /health and the status
      }
      this.stored = { sinceMs, readAtMs: nowMs, lines };
    }
    const sums = new CrossingTotals();
    for (const l of this.stored.lines) if (l.count > 0) sums.add(l, l.count);
    const open = this.open(nowMs);
    if (open && open.startMs >= sinceMs) for (const l of open.lines) if (l.count > 0) sums.add(l, l.count);
    return [...sums.all()];
  }
}
