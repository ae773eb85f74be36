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

/**
 * Failures per client address within a window (wrong bearer tokens): past `max`, the address is
 * refused until its window ends. Kept small: the oldest address goes first past `MAX_ADDRESSES`.
 */
export class FailureLimit {
  private readonly byAddress = new Map<string, { count: number; untilMs: number }>();
  private static readonly MAX_ADDRESSES = 1024;

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  fail(address: string): void {
    const t = this.now();
    const entry = this.byAddress.get(address);
    if (!entry || entry.untilMs <= t) {
      this.byAddress.delete(address);
      this.byAddress.set(address, { count: 1, untilMs: t + this.windowMs });
      if (this.byAddress.size > FailureLimit.MAX_ADDRESSES) {
        const oldest = this.byAddress.keys().next().value;
        if (oldest !== undefined) this.byAddress.delete(oldest);
      }
    } else entry.count++;
  }

  /** How long `address` must still wait (0: it may try). */
  blockedForMs(address: string): number {
    const entry = this.byAddress.get(address);
    if (!entry) return 0;
    const left = entry.untilMs - this.now();
    if (left <= 0) {
      this.byAddress.delete(address);
      return 0;
    }
    return entry.count >= this.max ? left : 0;
  }
}
