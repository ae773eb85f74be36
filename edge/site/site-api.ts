import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Static, Type } from "@sinclair/typebox";
import Fastify, { type FastifyInstance } from "fastify";
import { registerAccess } from "../api/access.ts";
import { bundlePage } from "../api/page-assets.ts";
import type { Logger } from "../app/logger.ts";
import { CSV_BUCKETS, type CsvBucket } from "./csv.ts";
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

/** Reachable without a login: the page, so that it can show its login form. */
const PUBLIC = new Set(["/", "/site/page.js", "/site/page.css"]);

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
  // the device page's rules (edge/api/access.ts), registered before every route
  void app.register(async (scope) => {
    await registerAccess(scope, {
      host: o.host,
      token: o.token,
      allowedHosts: o.allowedHosts,
      isPublic: (path) => PUBLIC.has(path),
      serverName: "this site process",
      log,
    });
    registerSiteRoutes(scope, config, source);
  });
  return app;
}

/** The Site page, its message and its CSV. */
function registerSiteRoutes(app: FastifyInstance, config: SiteConfig, source: SiteApiSource): void {
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
}
