import { dayStartAtOrBefore, nextDayStart } from "./reset.ts";
import type { SiteConfig } from "./schema.ts";
import type { SiteStore } from "./site-store.ts";

export const CSV_BUCKETS = { "15m": 15 * 60_000, "1h": 3_600_000 } as const;
export type CsvBucket = keyof typeof CSV_BUCKETS;

/** The site day (reset to reset) that contains `ms`. */
export function siteDayAround(config: SiteConfig, ms: number): { fromMs: number; toMs: number } {
  const reset = {
    time: config.reset.time,
    timeZone: config.reset.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
  };
  const fromMs = dayStartAtOrBefore(ms, reset);
  return { fromMs, toMs: nextDayStart(fromMs, reset) };
}

/**
 * Entries and exits per gate and 15 minutes (or hour) for intervals starting in [fromMs, toMs), as
 * CSV: one row per gate and bucket that received intervals. Buckets are aligned to UTC (whole
 * quarters and hours, as the devices' intervals are).
 */
export function siteCsv(store: SiteStore, bucket: CsvBucket, fromMs: number, toMs: number): string {
  const ms = CSV_BUCKETS[bucket];
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const rows = store
    .buckets(fromMs, toMs, ms)
    .map(
      (b) =>
        `${quote(b.gate)},${new Date(b.startMs).toISOString()},${new Date(b.startMs + ms).toISOString()},${b.entered},${b.exited}`,
    );
  return `gate,start,end,entered,exited\n${rows.map((r) => `${r}\n`).join("")}`;
}
