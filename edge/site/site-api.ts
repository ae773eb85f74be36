import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import fastifyCookie from "@fastify/cookie";
import fastifyRateLimit from "@fastify/rate-limit";
import { type Static, Type } from "@sinclair/typebox";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { LoginBody } from "../api/contract.ts";
import { bundlePage } from "../api/page-assets.ts";
import { hostAllowed } from "../api/server.ts";
import {
  CSRF_HEADER,
  FailureLimit,
  SESSION_COOKIE,
  type Session,
  Sessions,
  secretEquals,
} from "../api/session.ts";
import type { Logger } from "../app/logger.ts";
import { CSV_BUCKETS, type CsvBucket } from "./csv.ts";
import { LOOPBACK } from "./load.ts";
import type { SiteMessage } from "./messages.ts";
import type { SiteConfig } from "./schema.ts";

/** What the Site page's API reads from the site process. */
export interface SiteApiSource {
  latest(): SiteMessage | undefined;
  /** CSV of entries and exits per gate and bucket over the current site day. */
  csv(bucket: CsvBucket): string;
  brokerConnected(): boolean;
}

const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

/** Reachable without a login: the page and what it needs to show its login form. */
const PUBLIC = new Set(["/", "/site/page.js", "/site/page.css", "/health", "/api/session", "/api/login"]);
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

/**
 * The Site page and its API, with the device page's login rules: on loopback nothing asks for
 * credentials; on any other address every route but the page, /health and the login needs the
 * bearer token (`api.token`) or a page session (cookie, 8 h), writes need the session's CSRF token,
 * wrong tokens and logins are limited per address and minute; the Host name and the Origin are
 * checked against DNS rebinding.
 */
export function buildSiteApi(config: SiteConfig, source: SiteApiSource, log?: Logger): FastifyInstance {
  const o = config.api;
  const app = Fastify({ logger: false, trustProxy: false });
  const sessions = new Sessions(8 * 3_600_000);
  const loginRequired = !LOOPBACK.has(o.host);
  const perMinute = 5;
  const wrongTokens = new FailureLimit(perMinute, 60_000);
  const own = hostname().toLowerCase();
  const hosts = new Set(["localhost", own, `${own}.local`, ...o.allowedHosts.map((h) => h.toLowerCase())]);
  const sessionOf = (req: FastifyRequest): Session | undefined => sessions.get(req.cookies[SESSION_COOKIE]);
  void app.register(fastifyCookie);
  void app.register(fastifyRateLimit, { global: false });
  app.addHook("onRequest", async (req, reply) => {
    const path = req.url.split("?", 1)[0] ?? "";
    if (path === "/health") return;
    if (!hostAllowed(req.headers.host, hosts))
      return reply.code(403).send({
        error:
          "this site process is not known by that name: open it by its IP address, or list the name in api.allowedHosts",
      });
    const origin = req.headers.origin;
    if (origin !== undefined && !sameOrigin(origin, req.headers.host))
      return reply.code(403).send({ error: "requests from another site's page are refused" });
    if (!loginRequired || PUBLIC.has(path)) return;
    const bearer = req.headers.authorization?.replace(/^Bearer\s+/i, "");
    if (bearer !== undefined) {
      const wait = wrongTokens.blockedForMs(req.ip);
      if (wait > 0)
        return reply
          .code(429)
          .header("retry-after", String(Math.ceil(wait / 1000)))
          .send({ error: `more than ${perMinute} wrong tokens in a minute from this address: wait` });
      if (o.token && secretEquals(bearer, o.token)) return;
      wrongTokens.fail(req.ip);
    }
    const session = sessionOf(req);
    if (!session)
      return reply
        .code(401)
        .header("www-authenticate", "Bearer")
        .send({ error: bearer === undefined ? "bearer token or login required" : "wrong token" });
    const csrf = req.headers[CSRF_HEADER];
    if (!SAFE_METHODS.has(req.method) && (typeof csrf !== "string" || !secretEquals(csrf, session.csrf)))
      return reply.code(403).send({ error: `a write from the page needs its ${CSRF_HEADER} header` });
  });

  // the page: built by `npm run build` (dist/site/page), or from the sources bundled once, on
  // first request, by esbuild
  const dir = fileURLToPath(new URL("./page/", import.meta.url));
  const html = readFileSync(`${dir}index.html`);
  let page: Promise<{ js: Buffer; css: Buffer }> | undefined = existsSync(`${dir}page.js`)
    ? Promise.resolve({ js: readFileSync(`${dir}page.js`), css: readFileSync(`${dir}page.css`) })
    : undefined;
  app.get("/", async (_req, reply) =>
    reply.headers(PAGE_HEADERS).type("text/html; charset=utf-8").send(html),
  );
  app.get("/site/page.js", async (_req, reply) => {
    page ??= bundlePage(`${dir}site.ts`);
    return reply
      .headers(PAGE_HEADERS)
      .type("text/javascript; charset=utf-8")
      .send((await page).js);
  });
  app.get("/site/page.css", async (_req, reply) => {
    page ??= bundlePage(`${dir}site.ts`);
    return reply
      .headers(PAGE_HEADERS)
      .type("text/css; charset=utf-8")
      .send((await page).css);
  });

  app.get("/health", async () => ({
    status: source.brokerConnected() ? "ok" : "degraded",
    broker: source.brokerConnected() ? "connected" : "disconnected",
  }));
  app.get("/api/session", async (req) => {
    const session = sessionOf(req);
    return {
      loginRequired,
      authenticated: !loginRequired || session !== undefined,
      csrf: session?.csrf ?? null,
      expires: session ? new Date(session.expiresMs).toISOString() : null,
    };
  });
  app.post<{ Body: Static<typeof LoginBody> }>(
    "/api/login",
    { schema: { body: LoginBody }, config: { rateLimit: { max: perMinute, timeWindow: 60_000 } } },
    async (req, reply) => {
      if (!loginRequired)
        return reply.code(400).send({ error: "this API listens on loopback only: no login is needed" });
      if (!o.token || !secretEquals(req.body.token, o.token)) {
        log?.warn({ stage: "site-api", from: req.ip }, "wrong token at login");
        return reply.code(401).send({ error: "wrong token" });
      }
      sessions.delete(req.cookies[SESSION_COOKIE]);
      const s = sessions.create();
      log?.info({ stage: "site-api", from: req.ip, by: `session ${s.id.slice(0, 6)}` }, "logged in");
      void reply.setCookie(SESSION_COOKIE, s.id, {
        httpOnly: true,
        sameSite: "strict",
        path: "/",
        maxAge: Math.floor(sessions.ttlMs / 1000),
        secure: req.protocol === "https",
      });
      return { csrf: s.csrf, expires: new Date(s.expiresMs).toISOString() };
    },
  );
  app.post("/api/logout", async (req, reply) => {
    sessions.delete(req.cookies[SESSION_COOKIE]);
    void reply.clearCookie(SESSION_COOKIE, { path: "/" });
    return { loggedOut: true };
  });

  app.get("/api/site", async (_req, reply) => {
    const m = source.latest();
    return m ?? reply.code(503).send({ error: "the site message is not made yet" });
  });
  const CsvQuery = Type.Object(
    { bucket: Type.Union([Type.Literal("15m"), Type.Literal("1h")], { default: "15m" }) },
    { additionalProperties: false },
  );
  app.get<{ Querystring: Static<typeof CsvQuery> }>(
    "/api/site.csv",
    { schema: { querystring: CsvQuery } },
    async (req, reply) => {
      const bucket = req.query.bucket;
      const name = `${config.site.id}-${bucket === "1h" ? "hour" : "15min"}.csv`;
      return reply
        .type("text/csv; charset=utf-8")
        .header("content-disposition", `attachment; filename="${name}"`)
        .send(source.csv(bucket in CSV_BUCKETS ? bucket : "15m"));
    },
  );
  return app;
}
