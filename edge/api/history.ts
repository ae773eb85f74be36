import { Readable } from "node:stream";
import { setTimeout as sleep, setImmediate as yieldToLoop } from "node:timers/promises";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { IntervalCounts, LineCount, ZoneCount } from "../domain/types.ts";
import type {
  CountStore,
  HistoryBucket,
  HistoryCursor,
  HistoryFilter,
  ZoneBucketCount,
} from "../store/store.ts";

/**
 * `GET /api/counts`: the stored history, bounded so that no query can stall the counting. Raw
 * intervals come in pages (`limit`, `cursor`), read and written out in small chunks with the event
 * loop free between them; `resolution=15m|1h|1d` sums in SQLite. Without `from`, the last 24 hours.
 */

export const RESOLUTIONS = { "15m": 900_000, "1h": 3_600_000, "1d": 86_400_000 } as const;
export const DEFAULT_WINDOW_MS = 86_400_000;
export const DEFAULT_LIMIT = 1000;
export const MAX_LIMIT = 10_000;
/** Aggregated queries cover at most this span (a year and a bit). */
export const MAX_AGGREGATE_SPAN_MS = 400 * 86_400_000;
/** Rows read, parsed and written per turn of the event loop. */
const CHUNK_ROWS = 100;
/** Aggregation is done in slices of this span, the event loop free between them. */
const AGGREGATE_SLICE_MS = 86_400_000;

export const CountsQuerySchema = Type.Object(
  {
    from: Type.Optional(
      Type.String({ description: "ISO 8601 time or epoch ms (default: 24 h before `to`)" }),
    ),
    to: Type.Optional(Type.String({ description: "ISO 8601 time or epoch ms, exclusive (default: now)" })),
    line: Type.Optional(Type.String()),
    zone: Type.Optional(Type.String()),
    format: Type.Optional(Type.Union([Type.Literal("json"), Type.Literal("csv")])),
    resolution: Type.Optional(
      Type.Union([Type.Literal("interval"), Type.Literal("15m"), Type.Literal("1h"), Type.Literal("1d")]),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT })),
    cursor: Type.Optional(Type.String({ pattern: "^[0-9]+\\.[0-9]+$", maxLength: 40 })),
  },
  { additionalProperties: false },
);
export type CountsQuery = Static<typeof CountsQuerySchema>;

class BadRequest extends Error {
  readonly statusCode = 400;
}

/** The largest time a JavaScript date holds (year 275760): beyond it no ISO time can be written. */
const MAX_TIME_MS = 8.64e15;

function parseTime(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (Number.isNaN(ms) || ms > MAX_TIME_MS)
    throw new BadRequest(
      `${name}: expected an ISO 8601 time or epoch milliseconds up to ${MAX_TIME_MS}, got ${v.slice(0, 40)}`,
    );
  return ms;
}

/**
 * One CSV cell. Text that a spreadsheet would run as a formula (starting with = + - @, a tab or a
 * carriage return) is prefixed with `'`, as OWASP advises: names come from the set-up page.
 */
const csvCell = (v: unknown) => {
  let s = v === null || v === undefined ? "" : String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
const csvRow = (cells: readonly unknown[]) => `${cells.map(csvCell).join(",")}\n`;

export const INTERVAL_CSV_HEADER =
  "interval_start,interval_end,partial,coverage_sec,kind,name,from,to,mode,count,entries,exits,occupancy_mean,occupancy_max,staying,passing,dwell_p50_sec,dwell_p90_sec\n";
export const BUCKET_CSV_HEADER =
  "bucket_start,bucket_end,intervals,coverage_sec,partial,kind,name,from,to,mode,count,entries,exits,occupancy_mean,occupancy_max,staying,passing\n";

/** The long-format rows after `head`: one per line x direction x mode, one per zone x mode. */
function longRows(
  head: readonly unknown[],
  lines: readonly LineCount[],
  zones: readonly (ZoneBucketCount & Partial<Pick<ZoneCount, "dwellP50Sec" | "dwellP90Sec">>)[],
  dwell: boolean,
): string {
  const zoneColumns = dwell ? 8 : 6;
  let out = "";
  for (const l of lines)
    out += csvRow([...head, "line", l.line, l.from, l.to, l.mode, l.count, ...Array(zoneColumns).fill("")]);
  for (const z of zones)
    out += csvRow([
      ...head,
      "zone",
      z.zone,
      "",
      "",
      z.mode,
      "",
      z.entries,
      z.exits,
      z.occupancyMean,
      z.occupancyMax,
      z.staying,
      z.passing,
      ...(dwell ? [z.dwellP50Sec, z.dwellP90Sec] : []),
    ]);
  return out;
}

/** Long format: one row per interval and line x direction x mode, or zone x mode. */
export function intervalCsvRows(iv: IntervalCounts): string {
  const head = [
    new Date(iv.startMs).toISOString(),
    new Date(iv.endMs).toISOString(),
    iv.partial,
    iv.quality.coverageSec,
  ];
  return longRows(head, iv.lines, iv.zones, true);
}

function bucketCsvRows(b: HistoryBucket): string {
  const head = [
    new Date(b.startMs).toISOString(),
    new Date(b.endMs).toISOString(),
    b.intervals,
    b.coverageSec,
    b.partial,
  ];
  return longRows(head, b.lines, b.zones, false);
}

/** Only the requested line or zone: a line filter drops the zones and the other way round. */
function filtered(iv: IntervalCounts, line: string | undefined, zone: string | undefined): IntervalCounts {
  return {
    ...iv,
    lines:
      zone !== undefined && line === undefined
        ? []
        : iv.lines.filter((l) => line === undefined || l.line === line),
    zones:
      line !== undefined && zone === undefined
        ? []
        : iv.zones.filter((z) => zone === undefined || z.zone === zone),
  };
}

const intervalJson = (iv: IntervalCounts) => ({
  intervalStart: new Date(iv.startMs).toISOString(),
  intervalEnd: new Date(iv.endMs).toISOString(),
  partial: iv.partial,
  quality: iv.quality,
  lines: iv.lines,
  zones: iv.zones,
});

const bucketJson = (b: HistoryBucket) => ({
  bucketStart: new Date(b.startMs).toISOString(),
  bucketEnd: new Date(b.endMs).toISOString(),
  intervals: b.intervals,
  coverageSec: b.coverageSec,
  partial: b.partial,
  lines: b.lines,
  zones: b.zones,
});

/**
 * History work runs in slices through one gate shared by all requests: after a slice that took d
 * ms, the next slice (of any request) waits until d * (1 / share - 1) ms have passed. So however
 * many dashboards poll, history reading takes at most `share` of the Node thread, and the frame
 * loop, MQTT and the interval timer keep the rest. Slow requests, unchanged counting.
 */
export class WorkGate {
  private freeAtMs = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(readonly share: number) {}

  run<T>(work: () => T): Promise<T> {
    const turn = this.queue.then(async () => {
      const wait = this.freeAtMs - performance.now();
      if (wait > 0) await sleep(wait);
      else await yieldToLoop();
      const t0 = performance.now();
      try {
        return work();
      } finally {
        const took = performance.now() - t0;
        this.freeAtMs = performance.now() + took * (1 / this.share - 1);
      }
    });
    this.queue = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }
}

/** Share of the Node thread that history queries may take, all requests together. */
export const HISTORY_CPU_SHARE = 0.05;

/** Raw intervals of one page, rendered a chunk at a time through the gate. */
async function* pageChunks(
  gate: WorkGate,
  store: CountStore,
  f: HistoryFilter,
  after: HistoryCursor | undefined,
  limit: number,
  render: (iv: IntervalCounts, first: boolean) => string,
): AsyncGenerator<string> {
  let cursor = after;
  let left = limit;
  let first = true;
  while (left > 0) {
    const chunk = await gate.run(() => {
      const { intervals, next } = store.historyPage({
        ...f,
        after: cursor,
        limit: Math.min(CHUNK_ROWS, left),
      });
      let text = "";
      for (const iv of intervals) {
        text += render(filtered(iv, f.line, f.zone), first);
        first = false;
      }
      return { text, n: intervals.length, next };
    });
    if (chunk.text) yield chunk.text;
    left -= chunk.n;
    if (!chunk.next) return;
    cursor = chunk.next;
  }
}

export interface HistorySource {
  readonly deviceId: string;
  /** undefined while the database is not available (`detail` says why). */
  database(): CountStore | undefined;
  databaseError(): string | null;
}

export function registerHistoryRoute(
  app: FastifyInstance,
  source: HistorySource,
  gate = new WorkGate(HISTORY_CPU_SHARE),
): void {
  app.get<{ Querystring: CountsQuery }>(
    "/api/counts",
    { schema: { querystring: CountsQuerySchema } },
    async (req, reply) => {
      const q = req.query;
      const store = source.database();
      if (!store)
        return reply
          .code(503)
          .send({ error: "the database is not available", detail: source.databaseError() });
      const toMs = parseTime(q.to, "to") ?? Date.now() + 1;
      const cursor = q.cursor
        ? { startMs: Number(q.cursor.split(".")[0]), seq: Number(q.cursor.split(".")[1]) }
        : undefined;
      const fromMs = parseTime(q.from, "from") ?? (cursor ? cursor.startMs : toMs - DEFAULT_WINDOW_MS);
      if (fromMs > toMs) throw new BadRequest("from: must not be after to");
      const filter: HistoryFilter = { fromMs, toMs, line: q.line, zone: q.zone };
      const format = q.format ?? "json";
      const resolution = q.resolution ?? "interval";

      if (resolution !== "interval") {
        if (toMs - fromMs > MAX_AGGREGATE_SPAN_MS)
          throw new BadRequest(
            `from/to: at most ${MAX_AGGREGATE_SPAN_MS / 86_400_000} days per aggregated query`,
          );
        const bucketMs = RESOLUTIONS[resolution];
        const buckets: HistoryBucket[] = [];
        // slice boundaries are multiples of the bucket size: no bucket is split between two slices
        const sliceMs = Math.max(1, Math.floor(AGGREGATE_SLICE_MS / bucketMs)) * bucketMs;
        for (let sliceStart = fromMs; sliceStart < toMs; ) {
          if (req.raw.socket?.destroyed) return reply; // the client went away: stop working for it
          const sliceEnd = Math.min(toMs, (Math.floor(sliceStart / sliceMs) + 1) * sliceMs);
          const slice = { ...filter, fromMs: sliceStart, toMs: sliceEnd, bucketMs };
          buckets.push(...(await gate.run(() => store.aggregate(slice))));
          sliceStart = sliceEnd;
        }
        if (format === "csv")
          return reply
            .header("content-type", "text/csv; charset=utf-8")
            .send(BUCKET_CSV_HEADER + buckets.map(bucketCsvRows).join(""));
        return {
          deviceId: source.deviceId,
          resolution,
          from: new Date(fromMs).toISOString(),
          to: new Date(toMs).toISOString(),
          buckets: buckets.map(bucketJson),
        };
      }

      const limit = q.limit ?? DEFAULT_LIMIT;
      // where the page ends is known before it is read: the next page's cursor goes first
      const end = store.pageEnd({ ...filter, after: cursor, limit });
      const next = end ? `${end.startMs}.${end.seq}` : null;
      if (next) {
        const params = new URLSearchParams(req.query as Record<string, string>);
        params.set("cursor", next);
        params.set("from", String(fromMs));
        params.set("to", String(toMs));
        reply.header("link", `</api/counts?${params.toString()}>; rel="next"`);
      }
      if (format === "csv") {
        reply.header("content-type", "text/csv; charset=utf-8");
        return reply.send(
          Readable.from(
            (async function* () {
              yield INTERVAL_CSV_HEADER;
              yield* pageChunks(gate, store, filter, cursor, limit, intervalCsvRows);
            })(),
          ),
        );
      }
      reply.header("content-type", "application/json; charset=utf-8");
      const deviceId = source.deviceId;
      return reply.send(
        Readable.from(
          (async function* () {
            yield `{"deviceId":${JSON.stringify(deviceId)},"resolution":"interval","next":${JSON.stringify(next)},"intervals":[`;
            yield* pageChunks(gate, store, filter, cursor, limit, (iv, first) =>
              first ? JSON.stringify(intervalJson(iv)) : `,${JSON.stringify(intervalJson(iv))}`,
            );
            yield "]}";
          })(),
        ),
      );
    },
  );
}
