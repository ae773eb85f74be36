export {
  type AlarmMessage,
  AlarmMessageSchema,
  type GateReport,
  type GateState,
  SITE_SCHEMA_VERSION,
  type SiteMessage,
  SiteMessageSchema,
  siteTopics,
  type ZoneReport,
} from "./site-message.ts";

/** What the site reads from a device's counts message; other fields (added later) are ignored. */
export interface ReceivedInterval {
  readonly deviceId: string;
  readonly seq: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly periodSec: number;
  readonly coverage: number;
  readonly lines: readonly { line: string; from: string; to: string; mode: string; count: number }[];
  readonly zones: readonly { zone: string; mode: string; occupancyMean: number; occupancyMax: number }[];
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object";
/** More crossings of one line, direction and mode in one interval than any street carries: not a count. */
const MAX_COUNT = 1_000_000;
const isCount = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_COUNT;

/**
 * A counts message (native format) as the site uses it, or a reason why not. Coverage is the share
 * of the interval the device observed with a usable view: `quality.coverage` where the device sends
 * it (its scene check leaves blind time out of coverageSec), else coverageSec over the length.
 */
export function readCountsMessage(payload: string): ReceivedInterval | string {
  let m: unknown;
  try {
    m = JSON.parse(payload);
  } catch {
    return "not JSON";
  }
  if (!isObj(m) || m.type !== "counts") return "not a counts message";
  if (Array.isArray(m.entities))
    return "NGSI-LD format: the site reads the native format (mqtt.format: native)";
  const { deviceId, seq, intervalStart, intervalEnd, quality, lines } = m;
  if (typeof deviceId !== "string" || !Number.isInteger(seq) || (seq as number) < 1)
    return "no deviceId or seq";
  const startMs = Date.parse(String(intervalStart));
  const endMs = Date.parse(String(intervalEnd));
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs <= startMs) return "bad interval times";
  if (!Array.isArray(lines)) return "no lines";
  const outLines: ReceivedInterval["lines"][number][] = [];
  for (const l of lines) {
    if (!isObj(l) || typeof l.line !== "string" || typeof l.from !== "string" || typeof l.to !== "string")
      return "bad line count";
    if (typeof l.mode !== "string" || !isCount(l.count)) return "bad line count";
    outLines.push({ line: l.line, from: l.from, to: l.to, mode: l.mode, count: l.count });
  }
  const outZones: ReceivedInterval["zones"][number][] = [];
  if (Array.isArray(m.zones))
    for (const z of m.zones)
      if (isObj(z) && typeof z.zone === "string" && typeof z.mode === "string")
        outZones.push({
          zone: z.zone,
          mode: z.mode,
          occupancyMean:
            typeof z.occupancyMean === "number" && Number.isFinite(z.occupancyMean)
              ? Math.min(Math.max(0, z.occupancyMean), MAX_COUNT)
              : 0,
          occupancyMax: isCount(z.occupancyMax) ? z.occupancyMax : 0,
        });
  const periodSec = (endMs - startMs) / 1000;
  const coverageSec =
    isObj(quality) && typeof quality.coverageSec === "number" ? quality.coverageSec : periodSec;
  const share = isObj(quality) ? quality.coverage : undefined;
  const coverage =
    typeof share === "number" && share >= 0 && share <= 1 ? share : Math.min(1, coverageSec / periodSec);
  return {
    deviceId,
    seq: seq as number,
    startMs,
    endMs,
    periodSec,
    coverage,
    lines: outLines,
    zones: outZones,
  };
}

/** A retained status message as the site uses it. */
export interface ReceivedStatus {
  readonly deviceId: string;
  readonly online: boolean;
  readonly cameraDown: boolean;
  /** Scene states the device raises now (dark, obscured, moved, ...): it cannot see. */
  readonly sceneStates: readonly string[];
}

export function readStatusMessage(payload: string): ReceivedStatus | string {
  let m: unknown;
  try {
    m = JSON.parse(payload);
  } catch {
    return "not JSON";
  }
  if (!isObj(m) || m.type !== "status" || typeof m.deviceId !== "string" || typeof m.online !== "boolean")
    return "not a status message";
  return {
    deviceId: m.deviceId,
    online: m.online,
    cameraDown: isObj(m.camera) && m.camera.state === "down",
    sceneStates:
      isObj(m.scene) && Array.isArray(m.scene.states)
        ? m.scene.states.filter((x): x is string => typeof x === "string")
        : [],
  };
}
