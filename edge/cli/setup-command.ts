import type { Config } from "../config/schema.ts";
import type { SetupStatus } from "../domain/live.ts";

/** The running counter's local API as seen from the same device. */
export function localApiUrl(config: Config): string {
  const { host, port } = config.api;
  const reachable = host === "0.0.0.0" || host === "" ? "127.0.0.1" : host === "::" ? "[::1]" : host;
  return `http://${reachable.includes(":") && !reachable.startsWith("[") ? `[${reachable}]` : reachable}:${port}`;
}

/**
 * `counter setup on|off|status`: switches set-up mode of the counter running with this
 * configuration, through its local API (the token from the configuration when one is set).
 */
export async function runSetup(
  action: "on" | "off" | "status",
  config: Config,
  out: NodeJS.WritableStream,
): Promise<number> {
  if (!config.api.enabled) {
    out.write("the local API is off in this configuration (api.enabled: false): set-up mode needs it\n");
    return 2;
  }
  const base = localApiUrl(config);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (config.api.token) headers.authorization = `Bearer ${config.api.token}`;
  let res: Response;
  try {
    res =
      action === "status"
        ? await fetch(`${base}/api/setup`, { headers, signal: AbortSignal.timeout(5000) })
        : await fetch(`${base}/api/setup`, {
            method: "POST",
            headers,
            body: JSON.stringify({ active: action === "on" }),
            signal: AbortSignal.timeout(5000),
          });
  } catch (err) {
    out.write(
      `no counter answers at ${base} (is \`counter run\` running with this configuration?): ${(err as Error).message}\n`,
    );
    return 1;
  }
  if (!res.ok) {
    out.write(`${base}/api/setup answered ${res.status}: ${await res.text()}\n`);
    return 1;
  }
  const s = (await res.json()) as SetupStatus;
  out.write(
    s.active
      ? `set-up mode on since ${s.since}, until ${s.until} (at most ${s.maxMinutes} min); page: ${base}/#setup\n`
      : "set-up mode off: no preview, no live positions\n",
  );
  return 0;
}
