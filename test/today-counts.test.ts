import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { TodayCounts } from "../edge/app/today-counts.ts";
import type { IntervalCounts } from "../edge/domain/types.ts";
import { CountStore } from "../edge/store/store.ts";
import { minuteInterval } from "./helpers/minute-interval.ts";

/** Local midnight, whatever the test machine's time zone. */
const MIDNIGHT = new Date(2026, 2, 1, 0, 0, 0, 0).getTime();
const MINUTE = 60_000;

function interval(startMs: number, counts: Record<string, number>): IntervalCounts {
  const lines = Object.entries(counts).map(([mode, count]) => ({
    line: "gate",
    from: "in",
    to: "out",
    mode,
    count,
  }));
  return minuteInterval("today-1", startMs, lines);
}

const stores: CountStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

function storeWith(...intervals: IntervalCounts[]): CountStore {
  const store = new CountStore(join(mkdtempSync(join(tmpdir(), "today-")), "counts.db"));
  stores.push(store);
  for (const c of intervals) commit(store, c);
  return store;
}

function commit(store: CountStore, c: IntervalCounts): void {
  store.commitInterval(c, (seq) => ({ topic: "t", payload: String(seq), messageId: `today-1:${c.startMs}` }));
}

const byMode = (lines: readonly { mode: string; count: number }[]) =>
  Object.fromEntries(lines.map((l) => [l.mode, l.count]));

describe("today's counts for the page", () => {
  it("sums what the store holds since local midnight and the interval in progress", () => {
    const store = storeWith(
      interval(MIDNIGHT - MINUTE, { pedestrian: 100 }), // yesterday
      interval(MIDNIGHT, { pedestrian: 2, cyclist: 1 }),
      interval(MIDNIGHT + MINUTE, { pedestrian: 3 }),
    );
    const open = interval(MIDNIGHT + 2 * MINUTE, { pedestrian: 4, car: 0 });
    const today = new TodayCounts(
      () => store,
      () => open,
    );
    expect(byMode(today.at(MIDNIGHT + 2 * MINUTE + 30_000))).toEqual({ pedestrian: 9, cyclist: 1 });
  });

  it("an interval in progress that began yesterday is not today's", () => {
    const store = storeWith(interval(MIDNIGHT - MINUTE, { pedestrian: 5 }));
    const today = new TodayCounts(
      () => store,
      () => interval(MIDNIGHT - 30_000, { pedestrian: 7 }),
    );
    expect(today.at(MIDNIGHT + 10_000)).toEqual([]);
  });

  it("reads the store again after 10 s, or at once on a new day", () => {
    const store = storeWith(interval(MIDNIGHT, { pedestrian: 1 }));
    const today = new TodayCounts(
      () => store,
      () => undefined,
    );
    const t = MIDNIGHT + 5 * MINUTE;
    expect(byMode(today.at(t))).toEqual({ pedestrian: 1 });
    commit(store, interval(MIDNIGHT + MINUTE, { pedestrian: 2 }));
    expect(byMode(today.at(t + 10_000))).toEqual({ pedestrian: 1 });
    expect(byMode(today.at(t + 10_001))).toEqual({ pedestrian: 3 });
    // the next day begins with nothing stored for it, whatever was read a moment ago
    const nextDay = new Date(2026, 2, 2, 0, 0, 0, 0).getTime();
    commit(store, interval(nextDay - MINUTE, { pedestrian: 4 }));
    expect(today.at(t + 20_000).length).toBe(1);
    expect(today.at(nextDay + 1000)).toEqual([]);
  });

  it("without a database, or with one that fails, it is the interval in progress alone", () => {
    const open = () => interval(MIDNIGHT, { cyclist: 2 });
    const broken = {
      lineTotals: () => {
        throw new Error("database disk image is malformed");
      },
    };
    expect(byMode(new TodayCounts(() => undefined, open).at(MIDNIGHT + 1000))).toEqual({ cyclist: 2 });
    expect(byMode(new TodayCounts(() => broken, open).at(MIDNIGHT + 1000))).toEqual({ cyclist: 2 });
  });
});
