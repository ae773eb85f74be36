import { timingSafeEqual } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import type { RuntimeView } from "../app/runtime.ts";
import { redactConfig } from "../config/load.ts";
import { Redactor } from "../domain/redact.ts";
import { registerHistoryRoute } from "./history.ts";

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.replace(/^Bearer\s+/i, "") ?? "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/**
 * The local API (built, not listening: the caller listens). Bound to loopback by default; on any
 * other address every route but /health needs the bearer token. Serves aggregates only.
 */
export function buildApi(view: RuntimeView): FastifyInstance {
  const { config } = view;
  // on close, open connections are dropped: a slow history download must not hold up a shutdown
  const app = Fastify({ logger: false, forceCloseConnections: true });
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

  registerHistoryRoute(app, {
    deviceId: config.device.id,
    database: () => view.output.database,
    databaseError: () => view.output.storageError,
  });

  app.get("/api/status", async () => view.output.statusMessage(true));
  app.get("/api/config", async () => redactConfig(config));
  return app;
}
