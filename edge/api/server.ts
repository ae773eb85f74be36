import type { Static } from "@sinclair/typebox";
import Fastify, {
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import type { Logger } from "pino";
import type { SourceState } from "../capture/source.ts";
import { GeometryConflict } from "../config/edit.ts";
import { ConfigError } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import type { LiveCounts } from "../domain/live.ts";
import type { StatusMessage } from "../publish/messages.ts";
import type { SetupAccess } from "../setup/setup-mode.ts";
import { registerAccess } from "./access.ts";
import {
  GeometryAnswer,
  GeometryEdit,
  type GeometryView,
  HealthAnswer,
  NoQuery,
  SetupBody,
} from "./contract.ts";
import { type HistorySource, registerHistoryRoute } from "./history.ts";
import { loadPageAssets, type PageAssets } from "./page-assets.ts";

/** What the local API reads from a running counter: aggregates and health only, never frames. */
export interface ApiSource {
  readonly history: HistorySource;
  /** The loaded model's id, or null while none is loaded. */
  model(): string | null;
  camera(): SourceState | undefined;
  broker(): { readonly enabled: boolean; readonly connected: boolean; readonly lastError: string | null };
  outboxDepth(): number;
  /** Prometheus exposition text. */
  metrics(): Promise<{ readonly contentType: string; readonly text: string }>;
  /** The retained status message as it would be published now. */
  status(): StatusMessage;
  /** The configuration with every secret shown as `***`. */
  redactedConfig(): Config;
  /**
   * The lines and zones counted now (relative coordinates, as configured) and the device file's
   * revision, which a save names (null: started without a file, nothing can be saved).
   */
  geometry(): GeometryView;
  /**
   * Saves new lines and zones to the device's file and applies them while counting; throws
   * `ConfigError` (every problem with its path) or, when `revision` is not the file's,
   * `GeometryConflict`, and then changes nothing.
   */
  saveGeometry(edit: Omit<GeometryEdit, "revision">, revision?: string): GeometryView;
  /** Set-up mode: the preview without road users and live positions, only while on. */
  readonly setup: SetupAccess;
  liveCounts(): LiveCounts;
}

/** Routes that take no query parameters say so: an unknown one is a 400, not ignored. */
const noQuery = { schema: { querystring: NoQuery } } as const;
/** The largest geometry the schema allows (50 lines, 50 zones of 64 points) is far below this. */
const GEOMETRY_BODY_LIMIT = 256 * 1024;

export interface ApiOptions {
  readonly source: ApiSource;
  /** Bind address: off loopback, every route but /health needs `token`. */
  readonly host: string;
  readonly token: string | undefined;
  /** The last guard on every response (camera errors quote URLs; no credential may show). */
  readonly redact: (text: string) => string;
  /** How long a page login lasts (default 8 hours). */
  readonly sessionTtlMs?: number;
  /** Login attempts (and wrong bearer tokens) allowed per client address and minute (default 5). */
  readonly loginPerMinute?: number;
  /**
   * Host names the API may be called by besides IP addresses, `localhost` and this machine's name
   * (`api.allowedHosts`). A request naming another host is refused: DNS rebinding.
   */
  readonly allowedHosts?: readonly string[];
  /** Where geometry saves and set-up switches are recorded: who, from where, what. */
  readonly log?: Pick<Logger, "info" | "warn">;
}

/** Reachable without a login: the page, so that it can show its login form. */
const isPublic = (path: string): boolean => path === "/" || path.startsWith("/page/");

const PAGE_HEADERS = {
  // the page loads nothing from elsewhere and may not be framed; the preview is a same-origin image
  "content-security-policy":
    "default-src 'self'; img-src 'self' blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

/**
 * The routes of the local API as a fastify plugin: /health, /metrics, /api/status, /api/config,
 * /api/counts, the set-up routes and the page. On loopback nothing asks for credentials (writes
 * take JSON bodies only, which another site's page cannot send without the browser asking first).
 * On any other address every route but /health and the page's login needs the bearer token or a
 * page session, and a session's writes need its CSRF token.
 */
export const counterApi: FastifyPluginAsync<ApiOptions> = async (app, o) => {
  const { source } = o;
  app.addHook("onSend", async (_req, _reply, payload) =>
    typeof payload === "string" ? o.redact(payload) : payload,
  );
  const access = await registerAccess(app, {
    host: o.host,
    token: o.token,
    allowedHosts: o.allowedHosts ?? [],
    isPublic,
    serverName: "this device",
    perMinute: o.loginPerMinute,
    sessionTtlMs: o.sessionTtlMs,
    log: o.log,
  });
  const audit = (req: FastifyRequest, fields: Record<string, unknown>, msg: string) =>
    o.log?.info({ stage: "api", by: access.actor(req), from: req.ip, ...fields }, msg);

  // the page: one HTML file, one script, one stylesheet (bundled once, on first request)
  let assets: Promise<PageAssets> | undefined;
  const servePage = async (path: string, reply: FastifyReply) => {
    assets ??= loadPageAssets();
    const file = (await assets).get(path);
    if (!file) return reply.code(404).send({ error: "not found" });
    return reply.headers(PAGE_HEADERS).header("content-type", file.contentType).send(file.body);
  };
  app.get("/", noQuery, async (_req, reply) => servePage("/", reply));
  app.get<{ Params: { file: string } }>("/page/:file", noQuery, async (req, reply) =>
    servePage(`/page/${req.params.file}`, reply),
  );

  app.get(
    "/health",
    { schema: { querystring: NoQuery, response: { 200: HealthAnswer, 503: HealthAnswer } } },
    async (_req, reply) => {
      const camera = source.camera();
      const model = source.model();
      const databaseError = source.history.databaseError();
      const database = databaseError === null ? "ok" : "error";
      const b = source.broker();
      const broker = !b.enabled ? "disabled" : b.connected ? "connected" : "disconnected";
      const ready = model !== null && camera?.state === "up";
      const setupState = source.setup.status();
      // a counter that cannot see (dark, covered, frozen, turned away) is up but degraded
      const scene = source.status().scene ?? { states: [], since: null, learning: false };
      const body: HealthAnswer = {
        status:
          ready && database === "ok" && broker !== "disconnected" && scene.states.length === 0
            ? "ok"
            : ready
              ? "degraded"
              : "not-ready",
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
        setup: { active: setupState.active, since: setupState.since, until: setupState.until },
        scene,
      };
      return reply.code(ready ? 200 : 503).send(body);
    },
  );

  app.get("/metrics", noQuery, async (_req, reply) => {
    const m = await source.metrics();
    return reply.header("content-type", m.contentType).send(m.text);
  });

  registerHistoryRoute(app, source.history);
  app.get("/api/status", noQuery, async () => source.status());
  app.get("/api/config", noQuery, async () => source.redactedConfig());

  // every refused save is recorded, whatever refused it (the schema, the size limit, a conflict, an error)
  app.addHook("onResponse", async (req, reply) => {
    if (req.method === "PUT" && req.routeOptions.url === "/api/geometry" && reply.statusCode >= 400)
      audit(req, { refused: reply.statusCode }, "lines and zones not saved");
  });

  // set-up: the lines and zones, and their replacement while counting (saved to the device file)
  app.get(
    "/api/geometry",
    { schema: { querystring: NoQuery, response: { 200: GeometryAnswer } } },
    async () => source.geometry(),
  );
  app.put<{ Body: GeometryEdit }>(
    "/api/geometry",
    {
      schema: { body: GeometryEdit, querystring: NoQuery, response: { 200: GeometryAnswer } },
      bodyLimit: GEOMETRY_BODY_LIMIT,
    },
    async (req, reply) => {
      const { revision, ...edit } = req.body;
      try {
        const before = source.geometry();
        const saved = source.saveGeometry(edit, revision);
        audit(req, geometryChange(before, saved), "lines and zones saved");
        return saved;
      } catch (err) {
        if (err instanceof GeometryConflict)
          return reply.code(409).send({ error: err.message, revision: source.geometry().revision });
        if (!(err instanceof ConfigError)) throw err;
        return reply.code(400).send({ error: "lines and zones not saved", problems: err.problems });
      }
    },
  );

  // set-up mode: switched on for minutes at most; its preview and live positions exist only then
  const setup = source.setup;
  app.get("/api/setup", noQuery, async () => setup.status());
  app.post<{ Body: Static<typeof SetupBody> }>(
    "/api/setup",
    { schema: { body: SetupBody, querystring: NoQuery } },
    async (req) => {
      const wasActive = setup.status().active;
      const state = setup.switch(req.body.active);
      if (state.active !== wasActive || req.body.active)
        audit(
          req,
          { active: state.active, until: state.until },
          req.body.active ? "set-up mode on" : "set-up mode off",
        );
      return state;
    },
  );
  const setupOff = (reply: FastifyReply) =>
    reply.code(403).send({ error: "set-up mode is off: switch it on (POST /api/setup) to see the preview" });
  app.get("/api/setup/background.jpg", noQuery, async (_req, reply) => {
    if (!setup.status().active) return setupOff(reply);
    const image = setup.background();
    if (!image) {
      const s = setup.status();
      return reply
        .code(503)
        .header("retry-after", "2")
        .send({ error: "the preview is not ready yet", samples: s.samples, samplesNeeded: s.samplesNeeded });
    }
    return reply
      .header("content-type", "image/jpeg")
      .header("cache-control", "no-store")
      .send(await image);
  });
  app.get("/api/setup/live", noQuery, async (req, reply) => {
    if (!setup.status().active) return setupOff(reply);
    const stream = openEventStream(req, reply);
    const unsubscribe = setup.subscribe(
      (frame) => stream.send("positions", frame),
      () => stream.end("setup-off"),
    );
    if (!unsubscribe) stream.end("setup-off");
    else req.raw.on("close", unsubscribe);
  });

  // live counts for the page: aggregates only, always available
  app.get("/api/counts/live", noQuery, async (req, reply) => {
    const stream = openEventStream(req, reply);
    const tick = () => stream.send("counts", source.liveCounts());
    tick();
    const timer = setInterval(tick, 1000);
    req.raw.on("close", () => clearInterval(timer));
  });
};

/** What a geometry save changed, by name: for the audit log (no coordinates, which say nothing there). */
function geometryChange(
  before: GeometryView,
  after: GeometryView,
): {
  lines: string[];
  zones: string[];
  added: string[];
  removed: string[];
  changed: string[];
  anchor: string;
} {
  const named = (g: GeometryView) =>
    new Map([...g.lines, ...g.zones].map((x) => [x.name, JSON.stringify(x)] as const));
  const was = named(before);
  const now = named(after);
  return {
    lines: after.lines.map((l) => l.name),
    zones: after.zones.map((z) => z.name),
    added: [...now.keys()].filter((n) => !was.has(n)),
    removed: [...was.keys()].filter((n) => !now.has(n)),
    changed: [...now].filter(([n, v]) => was.has(n) && was.get(n) !== v).map(([n]) => n),
    anchor: after.anchor,
  };
}

/** Server-sent events on a hijacked reply (fastify's hooks no longer apply: nothing secret goes here). */
function openEventStream(req: FastifyRequest, reply: FastifyReply) {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  res.write(": connected\n\n");
  let open = true;
  req.raw.on("close", () => {
    open = false;
  });
  return {
    send(event: string, data: unknown): void {
      if (open) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end(event: string): void {
      if (!open) return;
      res.write(`event: ${event}\ndata: {}\n\n`);
      open = false;
      res.end();
    },
  };
}

/** The local API (built, not listening: the caller listens). Serves aggregates only. */
export function buildApi(options: ApiOptions): FastifyInstance {
  // on close, open connections are dropped: a slow history download must not hold up a shutdown
  // a key the route does not know is an error to report, not something to drop silently
  const app = Fastify({
    logger: false,
    forceCloseConnections: true,
    ajv: { customOptions: { removeAdditional: false } },
  });
  void app.register(counterApi, options);
  return app;
}
