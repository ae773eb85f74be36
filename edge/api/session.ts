import { randomBytes, timingSafeEqual } from "node:crypto";

/** A browser logged in with the API token: the cookie names it, writes must repeat its CSRF token. */
export interface Session {
  readonly id: string;
  readonly csrf: string;
  readonly expiresMs: number;
}

export const SESSION_COOKIE = "counter_session";
export const CSRF_HEADER = "x-csrf-token";

/** Logins kept at once; the oldest goes first (a device is set up by a few people, not hundreds). */
const MAX_SESSIONS = 64;

export function secretEquals(given: string | undefined, want: string): boolean {
  const a = Buffer.from(given ?? "");
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Page sessions, in memory only: a restart logs everyone out, which is the safe direction. */
export class Sessions {
  private readonly byId = new Map<string, Session>();

  constructor(
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  create(): Session {
    const s: Session = {
      id: randomBytes(32).toString("base64url"),
      csrf: randomBytes(24).toString("base64url"),
      expiresMs: this.now() + this.ttlMs,
    };
    this.byId.set(s.id, s);
    if (this.byId.size > MAX_SESSIONS) {
      const oldest = this.byId.keys().next().value;
      if (oldest !== undefined) this.byId.delete(oldest);
    }
    return s;
  }

  /** The live session a cookie names, or undefined (unknown or expired: then it is forgotten). */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.byId.get(id);
    if (!s) return undefined;
    if (s.expiresMs <= this.now()) {
      this.byId.delete(id);
      return undefined;
    }
    return s;
  }

  delete(id: string | undefined): void {
    if (id) this.byId.delete(id);
  }
}
