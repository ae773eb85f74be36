import { readFileSync } from "node:fs";
import type { Static, TSchema } from "@sinclair/typebox";
import { Value, ValueErrorType } from "@sinclair/typebox/value";
import { type Document, parseDocument } from "yaml";
import { Redactor } from "../domain/redact.ts";
import { viewContains, viewFromCorners } from "../domain/view.ts";
import { type Config, ConfigSchema, MIN_PUBLISHED_PERIOD_SEC } from "./schema.ts";

/** A detection region smaller than this is a typo (two corners swapped into one), not a choice. */
const MIN_REGION_SIDE = 0.05;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly source: string,
    /** One line per problem, each starting with the field's path. */
    readonly problems: readonly string[],
  ) {
    super(`${source}: invalid configuration\n${problems.map((p) => `  ${p}`).join("\n")}`);
  }
}

/** `/lines/1/points` -> `lines[1].points`; a key longer than `MAX_QUOTED` (an unknown one, sent) is cut. */
export function formatPath(pointer: string): string {
  if (pointer === "") return "(root)";
  let out = "";
  for (const part of pointer.split("/").slice(1)) {
    let key = part.replace(/~1/g, "/").replace(/~0/g, "~");
    if (key.length > MAX_QUOTED) key = `${key.slice(0, MAX_QUOTED)}… (${key.length} characters)`;
    out += /^\d+$/.test(key) ? `[${key}]` : out === "" ? key : `.${key}`;
  }
  return out;
}

/**
 * One section of a configuration given elsewhere than in a device file (command-line options, a
 * lines file): defaults filled in, every problem named as `name` plus its path, all of them thrown
 * together as a `ConfigError` of `source`.
 */
export function parseSection<T extends TSchema>(
  schema: T,
  raw: unknown,
  name: string,
  source: string,
): Static<T> {
  const value = Value.Default(schema, Value.Clone(raw));
  const problems = [...Value.Errors(schema, value)].map((e) => {
    const path = formatPath(e.path);
    const where = path === "(root)" ? name : path.startsWith("[") ? `${name}${path}` : `${name}.${path}`;
    return `${where}: ${e.message}`;
  });
  if (problems.length > 0) throw new ConfigError(source, problems);
  return value as Static<T>;
}

interface SchemaWithExtras {
  minItems?: number;
  maxItems?: number;
  maxLength?: number;
  "x-noun"?: string;
  /** What a string's pattern allows, in words. */
  "x-rule"?: string;
  anyOf?: { const?: unknown }[];
}

/** Longest quotation of a value in a problem: a reply must not echo a megabyte back. */
const MAX_QUOTED = 80;

/** A value as a problem quotes it: JSON, cut after `MAX_QUOTED` characters. */
export function quoted(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= MAX_QUOTED ? text : `${text.slice(0, MAX_QUOTED)}… (${text.length} characters)`;
}

function describeError(type: ValueErrorType, schema: TSchema, message: string, value: unknown): string {
  const s = schema as TSchema & SchemaWithExtras;
  switch (type) {
    case ValueErrorType.ArrayMinItems:
      return `expected at least ${s.minItems === 1 ? "one of the" : s.minItems} ${s["x-noun"] ?? "items"}, got ${Array.isArray(value) ? value.length : 0}`;
    case ValueErrorType.ArrayMaxItems:
      return `expected at most ${s.maxItems} ${s["x-noun"] ?? "items"}, got ${Array.isArray(value) ? value.length : 0}`;
    case ValueErrorType.StringMaxLength:
      return `expected at most ${s.maxLength} characters, got ${typeof value === "string" ? value.length : "?"}`;
    case ValueErrorType.StringPattern:
      if (s["x-rule"]) return `${s["x-rule"]}, got ${quoted(value)}`;
      return `${message.charAt(0).toLowerCase()}${message.slice(1)}, got ${quoted(value)}`;
    case ValueErrorType.ObjectAdditionalProperties:
      return "unknown key";
    case ValueErrorType.ObjectRequiredProperty:
      return "required";
    case ValueErrorType.Union: {
      const consts = s.anyOf?.map((o) => o.const).filter((c) => c !== undefined);
      if (consts && consts.length === s.anyOf?.length) {
        return `expected one of ${consts.map((c) => JSON.stringify(c)).join(", ")}, got ${quoted(value)}`;
      }
      return message.toLowerCase();
    }
    default:
      return `${message.charAt(0).toLowerCase()}${message.slice(1)}${value === undefined || typeof value === "object" ? "" : `, got ${quoted(value)}`}`;
  }
}

/**
 * Sections whose strings are taken as written: lines, zones and the anchor are edited from the page,
 * and lines and zones are published in every interval, so a `${NAME}` there would send the process's
 * environment out (or, in an error, tell which variables exist).
 */
const LITERAL_SECTIONS = new Set(["/lines", "/zones", "/counting/anchor"]);

/**
 * Replaces `${NAME}` in every string with the environment variable, so secrets stay out of the file
 * (everywhere but in `LITERAL_SECTIONS`).
 */
function interpolateEnv(value: unknown, path: string, env: NodeJS.ProcessEnv, problems: string[]): unknown {
  if (LITERAL_SECTIONS.has(path)) return value;
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) {
        problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
        return "";
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, `${path}/${i}`, env, problems));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateEnv(v, `${path}/${k}`, env, problems);
    return out;
  }
  return value;
}

/** Checks that the schema cannot express: unique names, distinct line sides, known model classes. */
function crossChecks(config: Config): string[] {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  config.lines.forEach((line, i) => {
    const prev = seen.get(line.name);
    if (prev) problems.push(`lines[${i}].name: "${line.name}" is already used by ${prev}`);
    else seen.set(line.name, `lines[${i}]`);
    if (line.from === line.to)
      problems.push(`lines[${i}].to: must differ from lines[${i}].from ("${line.from}")`);
    for (const key of ["inboundTo", "forwardTo"] as const) {
      const side = line[key];
      if (side !== undefined && side !== line.from && side !== line.to)
        problems.push(
          `lines[${i}].${key}: expected one of the line's sides "${line.from}", "${line.to}", got "${side}"`,
        );
    }
    for (let p = 1; p < line.points.length; p++) {
      const [ax, ay] = line.points[p - 1]!;
      const [bx, by] = line.points[p]!;
      if (ax === bx && ay === by) problems.push(`lines[${i}].points[${p}]: repeats the previous point`);
    }
  });
  config.zones.forEach((zone, i) => {
    const prev = seen.get(zone.name);
    if (prev) problems.push(`zones[${i}].name: "${zone.name}" is already used by ${prev}`);
    else seen.set(zone.name, `zones[${i}]`);
    let twiceArea = 0;
    zone.polygon.forEach(([x1, y1], k) => {
      const [x2, y2] = zone.polygon[(k + 1) % zone.polygon.length]!;
      twiceArea += x1 * y2 - x2 * y1;
    });
    if (Math.abs(twiceArea) < 1e-6) problems.push(`zones[${i}].polygon: has no area`);
  });
  if (config.aggregation.periodSec < MIN_PUBLISHED_PERIOD_SEC && !config.privacy.allowShortIntervals)
    problems.push(
      `aggregation.periodSec: at least ${MIN_PUBLISHED_PERIOD_SEC} s, got ${config.aggregation.periodSec} (shorter intervals come close to per-passage data; set privacy.allowShortIntervals: true to allow them)`,
    );
  const region = config.camera.region;
  if (typeof region !== "string") {
    const v = viewFromCorners(region);
    if (v.width < MIN_REGION_SIDE || v.height < MIN_REGION_SIDE)
      problems.push(
        `camera.region: [x1, y1, x2, y2] are two opposite corners; the rectangle must be at least ${MIN_REGION_SIDE} of the frame wide and high, got ${v.width} x ${v.height}`,
      );
  }
  const t = config.mqtt.tls;
  if ((t.cert === undefined) !== (t.key === undefined))
    problems.push("mqtt.tls: cert and key must be given together");
  if (config.mqtt.password !== undefined && config.mqtt.username === undefined) {
    problems.push("mqtt.username: required when mqtt.password is set");
  }
  const loopback =
    config.api.host === "127.0.0.1" || config.api.host === "::1" || config.api.host === "localhost";
  if (!loopback && config.api.token === undefined) {
    problems.push(`api.token: required when api.host is ${config.api.host} (not loopback)`);
  }
  return problems;
}

/** Validates a parsed config object: fills defaults, reports every problem with its path. */
export function parseConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfigFile(ConfigSchema, raw, source, env, {
    expected: "device, camera, model, lines, zones, mqtt, api",
    crossChecks,
  });
}

/**
 * A configuration file's parsed YAML against its schema (a device's or a site's): `${NAME}` from the
 * environment (outside the literal sections), defaults filled in, every problem named by its path
 * and then the checks the schema cannot express; problems quote values with secrets redacted.
 */
export function parseConfigFile<T extends TSchema>(
  schema: T,
  raw: unknown,
  source: string,
  env: NodeJS.ProcessEnv,
  o: { readonly expected: string; readonly crossChecks: (config: Static<T>) => string[] },
): Static<T> {
  const problems: string[] = [];
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new ConfigError(source, [`(root): expected a mapping with ${o.expected}`]);
  const interpolated = interpolateEnv(raw, "", env, problems);
  const withDefaults = Value.Default(schema, Value.Clone(interpolated));
  const required = new Set<string>();
  for (const e of Value.Errors(schema, withDefaults)) {
    const path = formatPath(e.path);
    // a missing field is "required", not also "expected string"
    if (required.has(path)) continue;
    if (e.type === ValueErrorType.ObjectRequiredProperty) required.add(path);
    problems.push(`${path}: ${describeError(e.type, e.schema, e.message, e.value)}`);
  }
  // a problem quotes the value it found, which may be a URL with a password in it
  const redactor = Redactor.for(interpolated);
  if (problems.length > 0)
    throw new ConfigError(
      source,
      problems.map((p) => redactor.text(p)),
    );
  const config = withDefaults as Static<T>;
  const more = o.crossChecks(config);
  if (more.length > 0)
    throw new ConfigError(
      source,
      more.map((p) => redactor.text(p)),
    );
  return config;
}

/** A device file as a YAML document (comments and order kept), or a ConfigError saying why not. */
export function readConfigDocument(path: string): Document {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, [
      `cannot read file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    ]);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      path,
      doc.errors.map((e) => `YAML line ${e.linePos?.[0]?.line ?? "?"}: ${e.message.split("\n")[0]}`),
    );
  }
  return doc;
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfig(readConfigDocument(path).toJS(), path, env);
}

/** What is valid but probably not meant: printed by `config check`, logged by `counter run`. */
export function configWarnings(config: Config): string[] {
  const w: string[] = [];
  if (config.lines.length === 0 && config.zones.length === 0)
    w.push("lines, zones: none configured, so nothing is counted (only the device status is published)");
  if (config.privacy.allowShortIntervals && config.aggregation.periodSec < MIN_PUBLISHED_PERIOD_SEC)
    w.push(
      `aggregation.periodSec: ${config.aggregation.periodSec} s intervals (privacy.allowShortIntervals) come close to per-passage data; use ${MIN_PUBLISHED_PERIOD_SEC} s or more for published counts`,
    );
  if (config.mqtt.format === "ngsi-ld")
    config.lines.forEach((l, i) => {
      const unset = (["inboundTo", "forwardTo"] as const).filter((k) => l[k] === undefined);
      if (unset.length > 0)
        w.push(
          `lines[${i}].${unset.join(", ")}: not set; crossings towards "${l.to}" are reported as ${unset.map((k) => (k === "inboundTo" ? "inbound" : "forward")).join(" and ")} in NGSI-LD`,
        );
    });
  const region = config.camera.region;
  if (typeof region !== "string") {
    // the detector sees nothing outside the region: a line or zone there would count nothing
    const v = viewFromCorners(region);
    const inside = (p: readonly [number, number]) => viewContains(v, p);
    config.lines.forEach((l, i) => {
      if (!l.points.every(inside))
        w.push(
          `lines[${i}]: "${l.name}" is not inside camera.region, so road users are not seen all along it`,
        );
    });
    config.zones.forEach((z, i) => {
      if (!z.polygon.every(inside))
        w.push(
          `zones[${i}]: "${z.name}" is not inside camera.region, so road users are not seen in all of it`,
        );
    });
  }
  if (config.privacy.minDwellVisitors < 5)
    w.push(
      `privacy.minDwellVisitors: dwell percentiles from fewer than 5 visitors (${config.privacy.minDwellVisitors}) describe individuals`,
    );
  return w;
}

/**
 * A copy safe to show or serve: secret fields (password, token, key) and credentials inside URLs
 * (userinfo, `?token=`) replaced by "***".
 */
export function redactConfig(config: Config): Config {
  return Redactor.for(config).value(config);
}
