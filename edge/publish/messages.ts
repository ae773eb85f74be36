import { FormatRegistry, type Static, Type } from "@sinclair/typebox";
import { Count, LineCountSchema, QualitySchema, ZoneCountSchema } from "../domain/counts.ts";
import type { IntervalCounts } from "../domain/types.ts";
import { SCENE_STATES } from "../scene/scene-check.ts";

export { LineCountSchema, QualitySchema, ZoneCountSchema };

/** Version of the native JSON payloads; bumped on any incompatible change (docs/mqtt.md). */
export const SCHEMA_VERSION = 1;

export interface DeviceIdentity {
  readonly id: string;
  readonly name: string;
  readonly latitude: number;
  readonly longitude: number;
}

if (!FormatRegistry.Has("date-time")) {
  FormatRegistry.Set("date-time", (v) =>
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v),
  );
}
const Iso = Type.String({ format: "date-time" });
/** `<base>/<device>/counts`, QoS 1, not retained: one per finished interval. */
export const CountsMessageSchema = Type.Object(
  {
    type: Type.Literal("counts"),
    schemaVersion: Type.Literal(SCHEMA_VERSION),
    id: Type.String({
      description: "Stable id: device and interval start (plus the sequence number for a partial interval)",
    }),
    seq: Type.Integer({
      minimum: 1,
      description: "Consecutive per device: a gap is a lost message, a repeat a duplicate delivery",
    }),
    deviceId: Type.String(),
    location: Type.Object(
      { latitude: Type.Number(), longitude: Type.Number() },
      { additionalProperties: false },
    ),
    intervalStart: Iso,
    intervalEnd: Iso,
    periodSec: Type.Number({ exclusiveMinimum: 0 }),
    partial: Type.Boolean({
      description: "The device did not observe the whole interval (it started or stopped inside it)",
    }),
    quality: QualitySchema,
    lines: Type.Array(LineCountSchema),
    zones: Type.Array(ZoneCountSchema),
  },
  { additionalProperties: false, $id: "counts.schema.json", title: "Edge counter counts message" },
);
export type CountsMessage = Static<typeof CountsMessageSchema>;

/** `<base>/<device>/status`, retained; the broker's last will sets `online: false`. */
export const StatusMessageSchema = Type.Object(
  {
    type: Type.Literal("status"),
    schemaVersion: Type.Literal(SCHEMA_VERSION),
    deviceId: Type.String(),
    online: Type.Boolean(),
    version: Type.String(),
    model: Type.Union([Type.String(), Type.Null()]),
    modelPrecision: Type.Optional(
      Type.Object(
        {
          setting: Type.Union([Type.Literal("auto"), Type.Literal("float32"), Type.Literal("int8")]),
          running: Type.Union([Type.Literal("float32"), Type.Literal("int8")]),
          reason: Type.String(),
        },
        {
          additionalProperties: false,
          description:
            "Which variant of the model runs (model.precision) and why, e.g. the ms per frame of each measured on this device. Absent while offline and before the model is loaded.",
        },
      ),
    ),
    camera: Type.Object(
      {
        state: Type.Union([Type.Literal("up"), Type.Literal("down"), Type.Literal("unknown")]),
        since: Type.Union([Iso, Type.Null()]),
        lastError: Type.Union([Type.String(), Type.Null()]),
      },
      { additionalProperties: false },
    ),
    processedFps: Type.Number({ minimum: 0 }),
    setup: Type.Object(
      {
        active: Type.Boolean(),
        since: Type.Union([Iso, Type.Null()]),
        until: Type.Union([Iso, Type.Null()]),
      },
      {
        additionalProperties: false,
        description:
          "Set-up mode (scene preview and live positions on the local page): on or off, when it was switched on and when it ends by itself. For audit: it is published whenever it changes.",
      },
    ),
    scene: Type.Optional(
      Type.Object(
        {
          states: Type.Array(Type.Union(SCENE_STATES.map((s) => Type.Literal(s))), {
            description: "The scene states raised now; empty: the counter sees (docs/mqtt.md#scene-health)",
          }),
          since: Type.Union([Iso, Type.Null()], { description: "When the oldest of `states` was raised" }),
          learning: Type.Boolean({
            description:
              "The scene's normal is being learnt (after start, set-up or a new detection region): meanwhile only dark and frozen can be raised",
          }),
        },
        {
          additionalProperties: false,
          description:
            "Can the counter see? Absent while offline and from counters without the scene check. Published whenever it changes.",
        },
      ),
    ),
    outboxDepth: Count,
    storageError: Type.Union([Type.String(), Type.Null()], {
      description: "null while the database works; counts are held in memory otherwise",
    }),
    ts: Type.Union([Iso, Type.Null()], {
      description:
        "When the device sent this message; null in the last will, which the broker sends later, when the connection is lost",
    }),
    lastWill: Type.Optional(
      Type.Literal(true, {
        description:
          "Present in the last will only: the broker published this because the connection was lost without a clean stop",
      }),
    ),
  },
  { additionalProperties: false, $id: "status.schema.json", title: "Edge counter status message" },
);
export type StatusMessage = Static<typeof StatusMessageSchema>;

/** `mqtt.format: ngsi-ld`: the interval's NGSI-LD entities, with the envelope's id and seq. */
export interface NgsiLdCountsMessage {
  readonly type: "counts";
  readonly schemaVersion: typeof SCHEMA_VERSION;
  readonly id: string;
  readonly seq: number;
  readonly entities: readonly Record<string, unknown>[];
}

/** The typed topic map: a publish with the wrong payload for a topic does not compile. */
export interface TopicPayloads {
  readonly counts: CountsMessage | NgsiLdCountsMessage;
  readonly status: StatusMessage;
}
export type TopicName = keyof TopicPayloads;

/** A payload as it goes on the wire (and into the outbox), checked against its topic's type. */
export function renderPayload<T extends TopicName>(_topic: T, payload: TopicPayloads[T]): string {
  return JSON.stringify(payload);
}

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
    quality: { ...counts.quality },
    lines: counts.lines.map((l) => ({ ...l })),
    zones: counts.zones.map((z) => ({ ...z })),
  };
}

/**
 * Modes counted as traffic, with the Smart Data Models `vehicleType` each one is (the enum of
 * TrafficFlowObserved). Cyclists are traffic (`bicycle`), as the model allows and as Danish bicycle
 * counts are reported; a mode that is a vehicle of no listed type ("vehicle") has no vehicleType.
 * Every other mode (pedestrian, or a custom one) is a crowd: CrowdFlowObserved.
 */
export const SDM_VEHICLE_TYPE: Readonly<Record<string, string | null>> = {
  car: "car",
  van: "van",
  bus: "bus",
  truck: "lorry",
  lorry: "lorry",
  motorcyclist: "motorcycle",
  motorcycle: "motorcycle",
  moped: "moped",
  cyclist: "bicycle",
  bicycle: "bicycle",
  tram: "tram",
  vehicle: null,
};

/** The contexts of every entity: Smart Data Models (Transportation) terms, then the NGSI-LD core. */
export const NGSI_LD_CONTEXT = [
  "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld",
  "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
] as const;

/** How a line's two directions are named in NGSI-LD (see `lines[].inboundTo`, `lines[].forwardTo`). */
export interface NgsiLineDirections {
  readonly name: string;
  readonly to: string;
  /** Crossings towards this side are `inbound` (towards the city centre); default: `to`. */
  readonly inboundTo?: string | undefined;
  /** Crossings towards this side are `forward` traffic; default: `to`. */
  readonly forwardTo?: string | undefined;
}

/**
 * FIWARE NGSI-LD entities (normalized) following the Smart Data Models: a TrafficFlowObserved per
 * line, direction and vehicle mode (`intensity`, `vehicleType`, `laneDirection` forward/backward),
 * a CrowdFlowObserved per line and direction for pedestrians (`peopleCount`, `direction`
 * inbound/outbound). `dateObserved` is the ISO 8601 interval. Zones are not sent: their occupancy is
 * a head count, not the model's `occupancy` (share of time a walkway was occupied). One array per
 * interval for an NGSI-LD batch upsert; ids are stable per interval, and a partial interval's id
 * carries its `seq` so that two partial halves of one interval do not overwrite each other.
 */
export function ngsiLdEntities(
  counts: IntervalCounts,
  seq: number,
  device: DeviceIdentity,
  /** The configured lines: which of their sides is inbound and forward (see NgsiLineDirections). */
  lines: readonly NgsiLineDirections[],
): Record<string, unknown>[] {
  const from = new Date(counts.startMs).toISOString();
  const to = new Date(counts.endMs).toISOString();
  const location = {
    type: "GeoProperty",
    value: { type: "Point", coordinates: [device.longitude, device.latitude] },
  };
  const prop = (value: unknown) => ({ type: "Property", value });
  const slug = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, "_");
  const byName = new Map(lines.map((l) => [l.name, l]));
  const q = counts.quality;
  const entities: Record<string, unknown>[] = [];
  for (const l of counts.lines) {
    const vehicle = Object.hasOwn(SDM_VEHICLE_TYPE, l.mode);
    const kind = vehicle ? "TrafficFlowObserved" : "CrowdFlowObserved";
    const line = byName.get(l.line);
    const towardsMain = (side: string | undefined) => l.to === (side ?? line?.to ?? l.to);
    const common = {
      id: `urn:ngsi-ld:${kind}:${slug(counts.deviceId)}:${slug(l.line)}:${slug(l.from)}-${slug(l.to)}:${slug(l.mode)}:${from}${counts.partial ? `:${seq}` : ""}`,
      type: kind,
      dateObserved: prop(`${from}/${to}`),
      dateObservedFrom: prop(from),
      dateObservedTo: prop(to),
      location,
      name: prop(`${l.line} ${l.from}>${l.to} ${l.mode}`),
      refDevice: { type: "Relationship", object: `urn:ngsi-ld:Device:${slug(counts.deviceId)}` },
      // device-specific, outside the models: delivery order and how much of the interval was seen
      seq: prop(seq),
      partial: prop(counts.partial),
      coverageSec: prop(counts.quality.coverageSec),
      // whether the counter could see (docs/mqtt.md#scene-health): a zero count with coverage 0 is
      // "not observed", not "nobody"
      ...(q.coverage === undefined ? {} : { coverage: prop(q.coverage) }),
      ...(q.blindSec === undefined ? {} : { blindSec: prop(q.blindSec) }),
      ...(q.scene === undefined ? {} : { sceneSec: prop({ ...q.scene }) }),
    };
    const vehicleType = SDM_VEHICLE_TYPE[l.mode];
    entities.push(
      vehicle
        ? {
            ...common,
            intensity: prop(l.count),
            ...(vehicleType ? { vehicleType: prop(vehicleType) } : {}),
            laneDirection: prop(towardsMain(line?.forwardTo) ? "forward" : "backward"),
          }
        : {
            ...common,
            peopleCount: prop(l.count),
            direction: prop(towardsMain(line?.inboundTo) ? "inbound" : "outbound"),
          },
    );
  }
  return entities.map((e) => ({ ...e, "@context": [...NGSI_LD_CONTEXT] }));
}
