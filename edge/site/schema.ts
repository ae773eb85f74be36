import { type Static, Type } from "@sinclair/typebox";
import { MqttLoginFields } from "../config/schema.ts";

/**
 * The one description of a site's configuration (site.yaml, read by `counter site`): types, defaults
 * and docs/site-config.schema.json come from here. Objects reject unknown keys so typos are reported.
 */

const strict = { additionalProperties: false } as const;

const Id = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: "^[A-Za-z0-9][A-Za-z0-9_-]*$",
  description: "Letters, digits, _ and -",
});

const Name = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: "^[A-Za-z0-9][A-Za-z0-9 _.-]*$",
  description: "Letters, digits, space, _ . -",
});

const SiteSchema = Type.Object(
  {
    id: Type.String({
      ...Id,
      description:
        "Stable site id: topic segment of <baseTopic>/site/<id>/... and part of the MQTT client id. Letters, digits, _ and -.",
    }),
    name: Type.String({ default: "", description: "Shown on the site message and page" }),
  },
  strict,
);

const GateSchema = Type.Object(
  {
    name: Type.String({
      ...Name,
      description: "Gate name on the site message (unique). Letters, digits, space, _ . -",
    }),
    device: Type.String({ ...Id, description: "device.id of the counter at this gate" }),
    line: Type.String({ minLength: 1, description: "Name of the device's line across the gate" }),
    in: Type.String({
      minLength: 1,
      description:
        "The line side that is inside the grounds: crossings towards it are entries, the other way exits",
    }),
  },
  strict,
);

const ZoneSchema = Type.Object(
  {
    name: Type.String({
      ...Name,
      description: "Zone name on the site message (unique). Letters, digits, space, _ . -",
    }),
    device: Type.String({ ...Id, description: "device.id of the counter that watches the zone" }),
    zone: Type.String({ minLength: 1, description: "Name of the device's zone" }),
  },
  strict,
);

const ResetSchema = Type.Object(
  {
    time: Type.String({
      pattern: "^([01][0-9]|2[0-3]):[0-5][0-9]$",
      default: "06:00",
      description:
        "HH:MM, when the grounds are empty: the day's totals start from zero and the occupancy left over is recorded as drift",
    }),
    timeZone: Type.Optional(
      Type.String({
        minLength: 1,
        description: "IANA time zone of the reset time, e.g. Europe/Copenhagen (default: the machine's)",
      }),
    ),
  },
  { ...strict, default: {} },
);

const AlarmSchema = Type.Object(
  {
    name: Type.String({ ...Id, description: "Level name carried by the alarm message, e.g. warning, full" }),
    atPercent: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1000,
      description: "Occupancy at or above this share of capacity (per cent) raises the level",
    }),
  },
  strict,
);

const MqttSchema = Type.Object(
  {
    url: Type.String({
      default: "mqtt://127.0.0.1:1883",
      pattern: "^(mqtts?|wss?|tcp|ssl)://",
      description: "The broker the gates' devices publish to",
    }),
    baseTopic: Type.String({
      default: "counter",
      minLength: 1,
      pattern: "^[^#+]+$",
      description:
        "The devices' mqtt.baseTopic: reads <base>/<device>/counts and /status, publishes <base>/site/<site id>/occupancy and /alarm",
    }),
    clientId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description:
          "MQTT client id of the persistent session (default: site-<site id>); must stay the same across restarts",
      }),
    ),
    ...MqttLoginFields,
  },
  { ...strict, default: {} },
);

const StorageSchema = Type.Object(
  {
    path: Type.String({
      default: "data/site.db",
      minLength: 1,
      description: "SQLite file: every interval received (de-duplicated) and the gates' counts",
    }),
    retentionDays: Type.Integer({
      minimum: 2,
      maximum: 3650,
      default: 90,
      description: "History kept this long",
    }),
  },
  { ...strict, default: {} },
);

const ApiSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: "Serve the Site page and its API" }),
    host: Type.String({
      default: "127.0.0.1",
      description: "Bind address; anything but loopback requires a token (the same rules as a device's page)",
    }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 8090,
      description: "TCP port of the Site page",
    }),
    token: Type.Optional(
      Type.String({
        minLength: 16,
        description: "Bearer token, also the page's login; write ${ENV_NAME} to read it from the environment",
      }),
    ),
    allowedHosts: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        "Host names the page may be opened by besides IP addresses, localhost and this machine's name (DNS rebinding protection)",
    }),
  },
  { ...strict, default: {} },
);

export const SiteConfigSchema = Type.Object(
  {
    site: SiteSchema,
    gates: Type.Array(GateSchema, {
      minItems: 1,
      "x-noun": "gates",
      description: "Every way in and out of the grounds: one device line each",
    }),
    zones: Type.Array(ZoneSchema, {
      default: [],
      description: "Device zones reported with the site (their occupancy is not added to the site's)",
    }),
    modes: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: "Modes counted at the gates, e.g. [pedestrian, cyclist] (default: every mode)",
      }),
    ),
    reset: ResetSchema,
    capacity: Type.Optional(
      Type.Integer({ minimum: 1, description: "People the grounds may hold; alarm levels are shares of it" }),
    ),
    alarms: Type.Array(AlarmSchema, {
      default: [
        { name: "warning", atPercent: 80 },
        { name: "full", atPercent: 100 },
      ],
      description: "Alarm levels, lowest first; they need a capacity",
    }),
    alarmClearPercent: Type.Number({
      minimum: 0,
      maximum: 50,
      default: 5,
      description:
        "A level is left only when occupancy falls this many per cent of capacity below it, so that it does not flap",
    }),
    minCoverage: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.95,
      description:
        "A gate whose last interval was observed for less than this share of its length counts as blind: occupancy is partial",
    }),
    offlineAfterIntervals: Type.Number({
      minimum: 1,
      maximum: 100,
      default: 2,
      description:
        "A gate from which no interval arrived for more than this many of its intervals counts as offline",
    }),
    mqtt: MqttSchema,
    storage: StorageSchema,
    api: ApiSchema,
  },
  {
    ...strict,
    $id: "https://github.com/edge-counter/edge-counter/docs/site-config.schema.json",
    title: "Edge counter site configuration",
  },
);

export type SiteConfig = Static<typeof SiteConfigSchema>;
export type GateConfig = SiteConfig["gates"][number];
