import { isIP } from "node:net";
import { hostname } from "node:os";
import fastifyCookie from "@fastify/cookie";
import fastifyRateLimit from "@fastify/rate-limit";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { LoginAnswer, LoginBody, NoQuery, SessionAnswer } from "./contract.ts";
import {
  CSRF_HEADER,
  FailureLimit,
  SESSION_COOKIE,
  type Session,
  Sessions,
  secretEquals,
} from "./session.ts";

/**
 * Who may use a page's API, and by which name: the rules the device's page and the Site page share.
 *
 * - **By which name** (DNS rebinding): a request must name the server (its `Host`, and an
 *   absolute-form target's host) by an IP address, `localhost`, the machine's own name or one in
 *   `allowedHosts`; a request whose `Origin` is another origin is refused. `/health` is exempt.
 * - **Who**: on loopback nothing asks for credentials. On any other address every route but the
 *   public ones needs the bearer token or a page session (`POST /api/login`, an HttpOnly SameSite
 *   cookie), and a session's writes need its CSRF token. Wrong tokens and wrong logins from one
 *   address count together: past `perMinute` in a minute, that address waits.
 */
export interface AccessOptions {
  /** The bind address: anything but loopback asks for the token or a login. */
  readonly host: string;
  readonly token: string | undefined;
  readonly allowedHosts: readonly string[];
  /** Paths reachable without a login (besides /health, /api/session and /api/login). */
  readonly isPublic: (path: string) => boolean;
  /** What the server is, in refusals ("this device", "this site process"). */
  readonly serverName: string;
  readonly perMinute?: number;
  readonly sessionTtlMs?: number;
  readonly log?: Pick<Logger, "info" | "warn">;
}

export interface Access {
  readonly loginRequired: boolean;
  /** Who made a request, for an audit line: never a token, of a session only enough to tell it apart. */
  actor(req: FastifyRequest): string;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const ALWAYS_PUBLIC = new Set(["/health", "/api/session", "/api/login"]);

export const isLoopback = (host: string): boolean => LOOPBACK.has(host);

/** A Host header: one name or IPv4 address, or one bracketed IPv6 address, and an optional port. */
const HOST_HEADER = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?))(?::(\d{1,5}))?$/;

/** `pole-7:8080` -> `pole-7`, `[::1]:8080` -> `::1`, lower case; undefined for anything else. */
function hostOnly(hostHeader: string): string | undefined {
  const m = HOST_HEADER.exec(hostHeader.trim().toLowerCase());
  if (!m || Number(m[3] ?? 0) > 65_535) return undefined;
  return m[1] ?? m[2];
}

/**
 * Whether a Host names this server. An IP address always does (a page at an address is its own
 * origin, never another site's); a name only when it is this machine's or listed, because any site
 * can make its own name resolve to 127.0.0.1 and then read the API as its own origin.
 */
export function hostAllowed(hostHeader: string | undefined, allowed: ReadonlySet<string>): boolean {
  const host = hostHeader && hostOnly(hostHeader);
  if (!host) return false;
  return isIP(host) !== 0 || allowed.has(host);
}

function allowedHostNames(extra: readonly string[]): Set<string> {
  const own = hostname().toLowerCase();
  return new Set(["localhost", own, `${own}.local`, ...extra.map((h) => h.toLowerCase())]);
}

/** The host of an absolute-form request target, or undefined when it is not a URL. */
function absoluteFormHost(target: string): string | undefined {
  try {
    return new URL(target).host || undefined;
  } catch {
    return undefined;
  }
}

/** The Origin header names the same host as the Host header (a same-origin request). */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    return new URL(origin).host.toLowerCase() === host.trim().toLowerCase();
  } catch {
    return false; // "null" (a sandboxed frame, a file) is no origin of ours
  }
}

const pathOf = (url: string) => url.split("?", 1)[0] ?? url;

/**
 * Puts the access rules on `app` (its hooks cover the routes registered on it after this) and adds
 * `GET /api/session`, `POST /api/login` and `POST /api/logout`.
 */
export async function registerAccess(app: FastifyInstance, o: AccessOptions): Promise<Access> {
  const sessions = new Sessions(o.sessionTtlMs ?? 8 * 3_600_000);
  const loginRequired = !isLoopback(o.host);
  const perMinute = o.perMinute ?? 5;
  const wrongTokens = new FailureLimit(perMinute, 60_000);
  const hosts = allowedHostNames(o.allowedHosts);
  const sessionOf = (req: FastifyRequest): Session | undefined => sessions.get(req.cookies[SESSION_COOKIE]);
  const tooManyWrong = (wait: number) => ({
    error: `more than ${perMinute} wrong tokens in a minute from this address: wait ${Math.ceil(wait / 1000)} s`,
  });
  await app.register(fastifyCookie);
  await app.register(fastifyRateLimit, { global: false });
  // an unknown route is named by its method only: a request's own (possibly huge) URL is not echoed;
  // the hooks below run for it too (no answer to a foreign Host)
  app.setNotFoundHandler(async (req, reply) =>
    reply.code(404).send({ error: `no such route (${req.method})` }),
  );

  app.addHook("onRequest", async (req, reply) => {
    if (pathOf(req.url) === "/health") return;
    // a request target in absolute form (`GET http://name/...`) names its host itself
    const target = req.raw.url ?? "";
    const named = target.startsWith("/") ? req.headers.host : absoluteFormHost(target);
    if (!hostAllowed(req.headers.host, hosts) || !hostAllowed(named, hosts)) {
      await reply.code(403).send({
        error: `${o.serverName} is not known by that name: open it by its IP address, localhost or its host name, or list the name in api.allowedHosts`,
      });
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !sameOrigin(origin, req.headers.host))
      await reply.code(403).send({ error: "requests from another site's page are refused" });
  });

  if (loginRequired)
    app.addHook("onRequest", async (req, reply) => {
      const path = pathOf(req.url);
      if (ALWAYS_PUBLIC.has(path) || o.isPublic(path)) return;
      const bearer = req.headers.authorization?.replace(/^Bearer\s+/i, "");
      if (bearer !== undefined) {
        const wait = wrongTokens.blockedForMs(req.ip);
        if (wait > 0) {
          await reply
            .code(429)
            .header("retry-after", String(Math.ceil(wait / 1000)))
            .send(tooManyWrong(wait));
          return;
        }
        if (o.token && secretEquals(bearer, o.token)) return;
        wrongTokens.fail(req.ip);
      }
      const session = sessionOf(req);
      if (!session) {
        await reply
          .code(401)
          .header("www-authenticate", "Bearer")
          .send({ error: bearer === undefined ? "bearer token or login required" : "wrong token" });
        return;
      }
      const csrf = req.headers[CSRF_HEADER];
      if (!SAFE_METHODS.has(req.method) && (typeof csrf !== "string" || !secretEquals(csrf, session.csrf)))
        await reply.code(403).send({ error: `a write from the page needs its ${CSRF_HEADER} header` });
    });

  app.get(
    "/api/session",
    { schema: { querystring: NoQuery, response: { 200: SessionAnswer } } },
    async (req): Promise<SessionAnswer> => {
      const session = sessionOf(req);
      return {
        loginRequired,
        authenticated: !loginRequired || session !== undefined,
        csrf: session?.csrf ?? null,
        expires: session ? new Date(session.expiresMs).toISOString() : null,
      };
    },
  );
  app.post<{ Body: LoginBody }>(
    "/api/login",
    {
      schema: { body: LoginBody, querystring: NoQuery, response: { 200: LoginAnswer } },
      config: { rateLimit: { max: perMinute, timeWindow: 60_000 } },
    },
    async (req, reply) => {
      if (!loginRequired)
        return reply.code(400).send({ error: "this API listens on loopback only: no login is needed" });
      const wait = wrongTokens.blockedForMs(req.ip);
      if (wait > 0)
        return reply
          .code(429)
          .header("retry-after", String(Math.ceil(wait / 1000)))
          .send(tooManyWrong(wait));
      if (!o.token || !secretEquals(req.body.token, o.token)) {
        wrongTokens.fail(req.ip);
        o.log?.warn({ stage: "api", from: req.ip }, "wrong token at login");
        return reply.code(401).send({ error: "wrong token" });
      }
      sessions.delete(req.cookies[SESSION_COOKIE]);
      const s = sessions.create();
      o.log?.info({ stage: "api", from: req.ip, by: `session ${s.id.slice(0, 6)}` }, "logged in");
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
  app.post("/api/logout", { schema: { querystring: NoQuery } }, async (req, reply) => {
    sessions.delete(req.cookies[SESSION_COOKIE]);
    void reply.clearCookie(SESSION_COOKIE, { path: "/" });
    return { loggedOut: true };
  });

  return {
    loginRequired,
    actor(req) {
      if (!loginRequired) return "loopback";
      const session = sessionOf(req);
      return session ? `session ${session.id.slice(0, 6)}` : "bearer token";
    },
  };
}
