import { isLoopback } from "../api/access.ts";
import { ConfigError, parseConfigFile, readConfigDocument } from "../config/load.ts";
import { isValidTimeZone } from "./reset.ts";
import { type SiteConfig, SiteConfigSchema } from "./schema.ts";

/** A parsed YAML file is a site configuration (rather than a device's) when it has a `site` key. */
export function isSiteDocument(raw: unknown): boolean {
  return raw !== null && typeof raw === "object" && !Array.isArray(raw) && "site" in raw;
}

/** What the schema cannot express: unique names, one gate per device line, alarm levels in order. */
function crossChecks(c: SiteConfig): string[] {
  const problems: string[] = [];
  const names = new Map<string, string>();
  const lines = new Map<string, string>();
  c.gates.forEach((g, i) => {
    const prev = names.get(g.name);
    if (prev) problems.push(`gates[${i}].name: "${g.name}" is already used by ${prev}`);
    else names.set(g.name, `gates[${i}]`);
    const key = `${g.device}\u0000${g.line}`;
    const same = lines.get(key);
    if (same) problems.push(`gates[${i}].line: device ${g.device} line "${g.line}" is already ${same}`);
    else lines.set(key, `gates[${i}]`);
  });
  c.zones.forEach((z, i) => {
    const prev = names.get(z.name);
    if (prev) problems.push(`zones[${i}].name: "${z.name}" is already used by ${prev}`);
    else names.set(z.name, `zones[${i}]`);
  });
  const levels = new Set<string>();
  c.alarms.forEach((a, i) => {
    if (levels.has(a.name)) problems.push(`alarms[${i}].name: "${a.name}" is already used`);
    levels.add(a.name);
    const before = c.alarms[i - 1];
    if (before && a.atPercent <= before.atPercent)
      problems.push(
        `alarms[${i}].atPercent: levels go lowest first; ${a.atPercent} is not above ${before.atPercent}`,
      );
  });
  if (c.reset.timeZone !== undefined && !isValidTimeZone(c.reset.timeZone))
    problems.push(`reset.timeZone: unknown time zone "${c.reset.timeZone}"`);
  const t = c.mqtt.tls;
  if ((t.cert === undefined) !== (t.key === undefined))
    problems.push("mqtt.tls: cert and key must be given together");
  if (c.mqtt.password !== undefined && c.mqtt.username === undefined)
    problems.push("mqtt.username: required when mqtt.password is set");
  if (c.api.enabled && !isLoopback(c.api.host) && c.api.token === undefined)
    problems.push(`api.token: required when api.host is ${c.api.host} (not loopback)`);
  return problems;
}

/** Validates a parsed site.yaml: fills defaults, reports every problem with its path. */
export function parseSiteConfig(
  raw: unknown,
  source: string,
  env: NodeJS.ProcessEnv = process.env,
): SiteConfig {
  if (!isSiteDocument(raw))
    throw new ConfigError(source, ["(root): expected a mapping with site, gates, reset, capacity, mqtt"]);
  return parseConfigFile(SiteConfigSchema, raw, source, env, {
    expected: "site, gates, reset, capacity, mqtt",
    crossChecks,
  });
}

export function loadSiteConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): SiteConfig {
  return parseSiteConfig(readConfigDocument(path).toJS(), path, env);
}

/** Valid but probably not meant: printed by `config check`, logged by `counter site`. */
export function siteWarnings(c: SiteConfig): string[] {
  const w: string[] = [];
  if (c.capacity === undefined && c.alarms.length > 0)
    w.push("capacity: not set, so the alarm levels are never reached");
  const devices = new Set(c.gates.map((g) => g.device));
  if (devices.size === 1 && c.gates.length > 1)
    w.push(`gates: all on one device (${[...devices][0]}); a site usually has a device per entrance`);
  if (c.reset.timeZone === undefined)
    w.push(
      `reset.timeZone: not set; ${c.reset.time} is read in this machine's time zone (${Intl.DateTimeFormat().resolvedOptions().timeZone})`,
    );
  return w;
}

/** The MQTT client id of the site's persistent session. */
export function siteClientId(c: SiteConfig): string {
  return c.mqtt.clientId ?? `site-${c.site.id}`;
}
