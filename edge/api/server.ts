import { timingSafeEqual } from "node:crypto";
import { type Static, Type } from "@sinclair/typebox";
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from "fastify";
import type { SourceState } from "../capture/source.ts";
import { ConfigError } from "../config/load.ts";
import type { StatusMessage } from "../publish/messages.ts";
import { type HistorySource, registerHistoryRoute } from "./history.ts";

/** What the local API reads from a running counter: aggregates and health only, never frames. */
export interface ApiSource {
  readonly history: HistorySource;
  /** The loaded model's id, or null while none is loaded. */
  model(): string | null;
  camera(): SourceState | undefined;
  broker(): { readonly enabled: boolean; readonly connected: boolean; readonly lastError: string | null };
  databaseError(): string | null;
  outboxDepth(): number;
  /** Prometheus exposition text. */
  metrics(): Promise<{ readonly contentType: string; readonly text: string }>;
  /** The retained status message as it would be published now. */
  status(): StatusMessage;
  /** The configuration with every secret shown as `***`. */
  redactedConfig(): unknown;
  /** The lines and zones counted now (relative coordinates, as configured). */
  geometry(): { readonly lines: readonly unknown[]; readonly zones: readonly unknown[] };
  /**
   * Saves new lines and zones to the device's file and applies them while counting; throws
   * `ConfigError` (every problem with its path) and then changes nothing.
   */
  saveGeometry(edit: { readonly lines: unknown[]; readonly zones: unknown[] }): {
    readonly lines: readonly unknown[];
    readonly zones: readonly unknown[];
  };
}

const GeometryBody = Type.Object(
  { lines: Type.Array(Type.Unknown()), zones: Type.Array(Type.Unknown()) },
  { additionalProperties: false },
);

export interface ApiOptions {
  readonly source: ApiSource;
  /** Bind address: off loopback, every route but /health needs `token`. */
  readonly host: string;
  readonly token: string | undefined;
  /** The last guard on every response (camera errors quote URLs; no credential may show). */
  readonly redact: (text: string) => string;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.replace(/^Bearer\s+/i, "") ?? "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** The routes of the local API as a fastify plugin: /health, /metrics, /api/status, /api/config, /api/counts. */
export const counterApi: FastifyPluginAsync<ApiOptions> = async (app, o) => {
  const { source } = o;
  app.addHook("onSend", async (_req, _reply, payload) =>
    typeof payload === "string" ? o.redact(payload) : payload,
  );
  if (!LOOPBACK.has(o.host)) {
    app.addHook("onRequest", async (req, reply) => {
      if (req.url === "/health" || req.url.startsWith("/health?")) return;
      if (!o.token || !tokenMatches(req.headers.authorization, o.token)) {
        await reply.code(401).header("www-authenticate", "Bearer").send({ error: "bearer token required" });
      }
    });
  }

  app.get("/health", async (_req, reply) => {
    const camera = source.camera();
    const model = source.model();
    const databaseError = source.databaseError();
    const database = databaseError === null ? "ok" : "error";
    const b = source.broker();
    const broker = !b.enabled ? "disabled" : b.connected ? "connected" : "disconnected";
    const ready = model !== null && camera?.state === "up";
    const body = {
      status:
        ready && database === "ok" && broker !== "disconnected" ? "ok" : ready ? "degraded" : "not-ready",
      live: true,
      ready,
      model,
      camera: camera
        ? {
            state: camera.state,
            since: new Date(camera.sinceMs).toISOString(),
            lastError: camera.lastError,
            restarts: camera.restarts,
          }
        : null,
      broker: { state: broker, lastError: b.lastError },
      database: { state: database, error: databaseError },
      outboxDepth: source.outboxDepth(),
    };
    return reply.code(ready ? 200 : 503).send(body);
  });

  app.get("/metrics", async (_req, reply) => {
    const m = await source.metrics();
    return reply.header("content-type", m.contentType).send(m.text);
  });

  registerHistoryRoute(app, source.history);
  app.get("/api/status", async () => source.status());
  app.get("/api/config", async () => source.redactedConfig());

  // set-up: the lines and zones, and their replacement while counting (saved to the device file)
  app.get("/api/geometry", async () => source.geometry());
  app.put<{ Body: Static<typeof GeometryBody> }>(
    "/api/geometry",
    { schema: { body: GeometryBody } },
    async (req, reply) => {
      try {
        return source.saveGeometry(req.body);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        return reply.code(400).send({ error: "lines and zones not saved", problems: err.problems });
      }
    },
  );
};

/** The local API (built, not listening: the caller listens). Serves aggregates only. */
export function buildApi(options: ApiOptions): FastifyInstance {
  // on close, open connections are dropped: a slow history download must not hold up a shutdown
  const app = Fastify({ logger: false, forceCloseConnections: true });
  void app.register(counterApi, options);
  return app;
}
