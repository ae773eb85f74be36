/**
 * Secrets never leave the process. Every outward path (logs, API responses, MQTT payloads, error
 * messages, `config check`) passes text through one `Redactor`: URL userinfo, secret query
 * parameters, and the exact secret values found in the configuration (which also catches them
 * where a tool such as ffmpeg repeats them without the URL around them).
 */

export const REDACTED = "***";

/** Field and query-parameter names whose values are secrets. */
const SECRET_NAME =
  /^(password|passwd|pass|pwd|token|access_?token|auth_?token|api_?key|key|secret|client_?secret|auth|authorization|credentials?|sig|signature)$/i;

// scheme://user:pass@host or scheme://token@host: everything between "//" and "@" before the host
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@'"<>]+@/gi;
const SECRET_PARAM =
  /([?&;](?:password|passwd|pass|pwd|token|access_?token|auth_?token|api_?key|key|secret|client_?secret|auth|sig|signature)=)[^&\s'"#<>]*/gi;

/** Secret values shorter than this are not searched for as bare text (they would mangle words). */
const MIN_KNOWN_LENGTH = 4;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The secret parts of one string: the password (or token) in its URL userinfo, secret query values. */
function secretsInText(s: string, out: Set<string>): void {
  for (const m of s.matchAll(/\b[a-z][a-z0-9+.-]*:\/\/([^\s/?#@'"<>]+)@/gi)) {
    const info = m[1] ?? "";
    const colon = info.indexOf(":");
    const secret = colon >= 0 ? info.slice(colon + 1) : info; // a lone userinfo is a token
    out.add(secret);
    out.add(safeDecode(secret));
  }
  for (const m of s.matchAll(/[?&;]([A-Za-z_]+)=([^&\s'"#<>]+)/g)) {
    if (isSecretName(m[1] ?? "")) {
      out.add(m[2] ?? "");
      out.add(safeDecode(m[2] ?? ""));
    }
  }
}

/** Every secret value in a (config) value: fields with secret names, URL passwords, query tokens. */
export function secretsIn(value: unknown): string[] {
  const out = new Set<string>();
  const walk = (v: unknown, name: string) => {
    if (typeof v === "string") {
      // a key *file* path (mqtt.tls.key) is no secret itself; its contents never enter the config
      if (isSecretName(name) && !(/^key$/i.test(name) && /^[./~]/.test(v))) out.add(v);
      secretsInText(v, out);
    } else if (Array.isArray(v)) {
      for (const x of v) walk(x, name);
    } else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(x, k);
    }
  };
  walk(value, "");
  return [...out].filter((s) => s.length >= MIN_KNOWN_LENGTH && s !== REDACTED);
}

export class Redactor {
  private readonly known: readonly string[];

  /** `secrets`: exact values to hide wherever they appear (see `secretsIn`). */
  constructor(secrets: Iterable<string> = []) {
    const all = new Set<string>();
    for (const s of secrets) {
      if (s.length < MIN_KNOWN_LENGTH) continue;
      all.add(s);
      // the same value as it appears inside JSON text
      all.add(JSON.stringify(s).slice(1, -1));
    }
    // longest first, so that a secret containing another is hidden whole
    this.known = [...all].sort((a, b) => b.length - a.length);
  }

  /** A redactor that hides the secrets of this configuration (parsed or raw). */
  static for(config: unknown): Redactor {
    return new Redactor(secretsIn(config));
  }

  text(s: string): string {
    let out = s.replace(URL_USERINFO, `$1${REDACTED}@`).replace(SECRET_PARAM, `$1${REDACTED}`);
    for (const k of this.known) if (out.includes(k)) out = out.split(k).join(REDACTED);
    return out;
  }

  /**
   * Text that may be JSON (an API answer, an MQTT payload, a log line): secrets are hidden inside its
   * strings only, so that it stays valid JSON whatever a secret is (a password "true" must not turn
   * `"online":true` into `"online":***`). Anything else is redacted as text.
   */
  json(s: string): string {
    const body = s.trimEnd();
    if (!body.startsWith("{") && !body.startsWith("[")) return this.text(s);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return this.text(s);
    }
    const walk = (x: unknown): unknown => {
      if (typeof x === "string") return this.text(x);
      if (Array.isArray(x)) return x.map(walk);
      if (x && typeof x === "object") {
        const o: Record<string, unknown> = {};
        for (const [k, e] of Object.entries(x)) o[k] = walk(e); // keys are the payload's own names
        return o;
      }
      return x;
    };
    return JSON.stringify(walk(parsed)) + s.slice(body.length);
  }

  /** A deep copy with secret-named fields replaced by "***" and every string redacted. */
  value<T>(v: T): T {
    const walk = (x: unknown, name: string): unknown => {
      if (typeof x === "string") return isSecretName(name) ? REDACTED : this.text(x);
      if (Array.isArray(x)) return x.map((e) => walk(e, name));
      if (x && typeof x === "object") {
        const o: Record<string, unknown> = {};
        for (const [k, e] of Object.entries(x)) o[k] = walk(e, k);
        return o;
      }
      return x;
    };
    return walk(v, "") as T;
  }
}

const PATTERN_ONLY = new Redactor();

/** Pattern-only redaction (no known values): for text produced before a configuration is known. */
export const redactText = (s: string): string => PATTERN_ONLY.text(s);
/** The same for text that may be JSON (a log line): its structure is kept. */
export const redactJson = (s: string): string => PATTERN_ONLY.json(s);
