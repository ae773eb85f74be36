import type { IntervalCounts, IntervalQuality, LineCount, ZoneCount } from "../domain/types.ts";

/** Version of the native JSON payloads; bumped on any incompatible change (docs/mqtt.md). */
export const SCHEMA_VERSION = 1;

export interface DeviceIdentity {
  readonly id: string;
  readonly name: string;
  readonly latitude: number;
  readonly longitude: number;
}

/** `<base>/<device>/counts`, QoS 1, not retained: one per finished interval. */
export interface CountsMessage {
  readonly type: "counts";
  readonly schemaVersion: typeof SCHEMA_VERSION;
  /** Stable id: device and interval start (plus the sequence number for a partial interval). */
  readonly id: string;
  /** Consecutive per device: a gap means a lost message, a repeat a duplicate delivery. */
  readonly seq: number;
  readonly deviceId: string;
  readonly location: { readonly latitude: number; readonly longitude: number };
  readonly intervalStart: string;
  readonly intervalEnd: string;
  readonly periodSec: number;
  readonly partial: boolean;
  readonly quality: IntervalQuality;
  readonly lines: readonly LineCount[];
  readonly zones: readonly ZoneCount[];
}

/** `<base>/<device>/status`, retained; the broker's last will sets `online: false`. */
export interface StatusMessage {
  readonly type: "status";
  readonly schemaVersion: typeof SCHEMA_VERSION;
  readonly deviceId: string;
  readonly online: boolean;
  readonly version: string;
  readonly model: string | null;
  readonly camera: {
    readonly state: "up" | "down" | "unknown";
    readonly since: string | null;
    readonly lastError: string | null;
  };
  readonly processedFps: number;
  readonly outboxDepth: number;
  /** null while the database works; the error otherwise (counts are then held in memory). */
  readonly storageError: string | null;
  readonly ts: string;
}

/** The typed topic map: a publish with the wrong payload for a topic does not compile. */
export interface TopicPayloads {
  readonly counts: CountsMessage;
  readonly status: StatusMessage;
}
export type TopicName = keyof TopicPayloads;

export function messageId(counts: IntervalCounts, seq: number): string {
  const base = `${counts.deviceId}:${new Date(counts.startMs).toISOString()}`;
  return counts.partial ? `${base}:${seq}` : base;
}

export function countsMessage(counts: IntervalCounts, seq: number, device: DeviceIdentity): CountsMessage {
  return {
    type: "counts",
    schemaVersion: SCHEMA_VERSION,
    id: messageId(counts, seq),
    seq,
    deviceId: counts.deviceId,
    location: { latitude: device.latitude, longitude: device.longitude },
    intervalStart: new Date(counts.startMs).toISOString(),
    intervalEnd: new Date(counts.endMs).toISOString(),
    periodSec: (counts.endMs - counts.startMs) / 1000,
    partial: counts.partial,
    quality: counts.quality,
    lines: counts.lines,
    zones: counts.zones,
  };
}

const VEHICLE_MODES = new Set(["car", "bus", "truck", "vehicle", "motorcyclist", "motorcycle"]);

/**
 * FIWARE NGSI-LD entities (Smart Data Models): CrowdFlowObserved per line, direction and mode for
 * pedestrians and cyclists, TrafficFlowObserved per line, direction and vehicle type. One array per
 * interval, ready for an NGSI-LD batch upsert. Entity ids are stable per interval.
 */
export function ngsiLdEntities(
  counts: IntervalCounts,
  seq: number,
  device: DeviceIdentity,
): Record<string, unknown>[] {
  const from = new Date(counts.startMs).toISOString();
  const to = new Date(counts.endMs).toISOString();
  const location = {
    type: "GeoProperty",
    value: { type: "Point", coordinates: [device.longitude, device.latitude] },
  };
  const prop = (value: unknown) => ({ type: "Property", value });
  const slug = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, "_");
  const entities: Record<string, unknown>[] = [];
  for (const l of counts.lines) {
    const vehicle = VEHICLE_MODES.has(l.mode);
    const kind = vehicle ? "TrafficFlowObserved" : "CrowdFlowObserved";
    const common = {
      id: `urn:ngsi-ld:${kind}:${slug(counts.deviceId)}:${slug(l.line)}:${slug(l.from)}-${slug(l.to)}:${slug(l.mode)}:${from}`,
      type: kind,
      dateObservedFrom: prop(from),
      dateObservedTo: prop(to),
      location,
      name: prop(`${l.line} ${l.from}>${l.to} ${l.mode}`),
      refDevice: { type: "Relationship", object: `urn:ngsi-ld:Device:${slug(counts.deviceId)}` },
      seq: prop(seq),
      partial: prop(counts.partial),
      coverageSec: prop(counts.quality.coverageSec),
    };
    entities.push(
      vehicle
        ? {
            ...common,
            intensity: prop(l.count),
            vehicleType: prop(l.mode),
            laneDirection: prop(`${l.from}>${l.to}`),
          }
        : { ...common, peopleCount: prop(l.count), direction: prop(`${l.from}>${l.to}`), mode: prop(l.mode) },
    );
  }
  return entities.map((e) => ({
    ...e,
    "@context": ["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"],
  }));
}
