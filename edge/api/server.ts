import { timingSafeEqual } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import type { RuntimeView } from "../app/runtime.ts";
import { redactConfig } from "../config/load.ts";
import { Redactor } from "../domain/redact.ts";
import type { IntervalCounts } from "../domain/types.ts";

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.replace(/^Bearer\s+/i, "") ?? "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** Long format: one row per interval and line x direction x mode, or zone x mode. */
export function countsCsv(intervals: readonly IntervalCounts[]): string {
  const rows = [
    "interval_start,interval_end,partial,coverage_sec,kind,name,from,to,mode,count,entries,exits,occupancy_mean,occupancy_max,staying,passing,dwell_p50_sec,dwell_p90_sec",
  ];
  for (const iv of intervals) {
    const head = [
      new Date(iv.startMs).toISOString(),
      new Date(iv.endMs).toISOString(),
      iv.partial,
      iv.quality.coverageSec,
    ];
    for (const l of iv.lines)
      rows.push(
        [...head, "line", l.line, l.from, l.to, l.mode, l.count, "", "", "", "", "", "", "", ""]
          .map(csvCell)
          .join(","),
      );
    for (const z of iv.zones) {
      rows.push(
        [
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
          z.dwellP50Sec,
          z.dwellP90Sec,
        ]
          .map(csvCell)
          .join(","),
      );
    }
  }
  return `${rows.join("\n")}\n`;
}

/**
 * The local API (built, not listening: the caller listens). Bound to loopback by default; on any
 * other address every route but /health needs the bearer token. Serves aggregates only.
 */
export function buildApi(view: RuntimeView): FastifyInstance {
  const { config } = view;
  const app = Fastify({ logger: false });
  // the last guard on the way out: camera errors quote URLs, and nothing here may show a credential
  const redactor = Redactor.for(config);
  app.addHook("onSend", async (_req, _reply, payload) =>
    typeof payload === "string" ? redactor.text(payload) : payload,
  );
  const needsToken = !LOOPBACK.has(config.api.host);
  if (needsToken) {
    app.addHook("onRequest", async (req, reply) => {
      if (req.url === "/health" || req.url.startsWith("/health?")) return;
      if (!config.api.token || !tokenMatches(req.headers.authorization, config.api.token)) {
        await reply.code(401).header("www-authenticate", "Bearer").send({ error: "bearer token required" });
      }
    });
  }

  app.get("/health", async (_req, reply) => {
    const camera = view.camera();
    const database = view.output.storageError === null ? "ok" : "error";
    const broker = !config.mqtt.enabled
      ? "disabled"
      : view.output.brokerConnected
        ? "connected"
        : "disconnected";
    const ready = view.modelLoaded() !== null && camera?.state === "up";
    const body = {
      status:
        ready && database === "ok" && broker !== "disconnected" ? "ok" : ready ? "degraded" : "not-ready",
      live: true,
      ready,
      model: view.modelLoaded(),
      camera: camera
        ? {
            state: camera.state,
            since: new Date(camera.sinceMs).toISOString(),
            lastError: camera.lastError,
            restarts: camera.restarts,
          }
        : null,
      broker: { state: broker, lastError: view.output.brokerError },
      database: { state: database, error: view.output.storageError },
      outboxDepth: view.output.outboxDepth(),
    };
    return reply.code(ready ? 200 : 503).send(body);
  });

  app.get("/metrics", async (_req, reply) => {
    view.metrics.outboxDepth.set(view.output.outboxDepth());
    return reply
      .header("content-type", view.metrics.registry.contentType)
      .send(await view.metrics.registry.metrics());
  });

  app.get<{ Querystring: { from?: string; to?: string; line?: string; zone?: string; format?: string } }>(
    "/api/counts",
    async (req, reply) => {
      const q = req.query;
      const parseTime = (v: string | undefined, name: string): number | undefined => {
        if (v === undefined) return undefined;
        const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
        if (Number.isNaN(ms))
          throw Object.assign(
            new Error(`${name}: expected an ISO 8601 time or epoch milliseconds, got ${v}`),
            { statusCode: 400 },
          );
        return ms;
      };
      const format = q.format ?? "json";
      if (format !== "json" && format !== "csv")
        return reply.code(400).send({ error: `format: expected json or csv, got ${format}` });
      const db = view.output.database;
      if (!db)
        return reply
          .code(503)
          .send({ error: "the database is not available", detail: view.output.storageError });
      const fromMs = parseTime(q.from, "from");
      const toMs = parseTime(q.to, "to");
      const intervals = db
        .history({ ...(fromMs !== undefined ? { fromMs } : {}), ...(toMs !== undefined ? { toMs } : {}) })
        .map((iv) => ({
          ...iv,
          lines:
            q.zone !== undefined && q.line === undefined
              ? []
              : iv.lines.filter((l) => q.line === undefined || l.line === q.line),
          zones:
            q.line !== undefined && q.zone === undefined
              ? []
              : iv.zones.filter((z) => q.zone === undefined || z.zone === q.zone),
        }));
      if (format === "csv")
        return reply.header("content-type", "text/csv; charset=utf-8").send(countsCsv(intervals));
      return {
        deviceId: config.device.id,
        intervals: intervals.map((iv) => ({
          intervalStart: new Date(iv.startMs).toISOString(),
          intervalEnd: new Date(iv.endMs).toISOString(),
          partial: iv.partial,
          quality: iv.quality,
          lines: iv.lines,
          zones: iv.zones,
        })),
      };
    },
  );

  app.get("/api/status", async () => view.output.statusMessage(true));
  app.get("/api/config", async () => redactConfig(config));
  return app;
}
