import { type Static, type TLiteral, type TUnion, Type } from "@sinclair/typebox";
import { DEFAULT_COUNTED_CLASSES, DEFAULT_MODE_OF, DEFAULT_MOTORCYCLE_SHARE } from "../domain/classes.ts";
import { ANCHORS, DEFAULT_DWELL_THRESHOLD_SEC } from "../domain/counting-settings.ts";

/**
 * The one description of a device's configuration: TypeScript types, defaults and the JSON Schema
 * in docs/config.schema.json all come from here. Every object rejects unknown keys so typos are reported.
 */

const strict = { additionalProperties: false } as const;

function oneOf<const T extends readonly string[]>(
  values: T,
  options: { default?: T[number]; description?: string } = {},
): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(values.map((v) => Type.Literal(v)) as TLiteral<T[number]>[], options);
}

/** A point in relative image coordinates: x and y from 0 (left/top) to 1 (right/bottom). */
const RelativePoint = Type.Tuple(
  [Type.Number({ minimum: 0, maximum: 1 }), Type.Number({ minimum: 0, maximum: 1 })],
  { description: "[x, y] as fractions of the frame width and height (0..1), origin top-left" },
);

const Name = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: "^[A-Za-z0-9][A-Za-z0-9 _.-]*$",
  description: "Unique among lines and zones; letters, digits, space, _ . -",
  "x-rule": "letters, digits, space, _ . - only, starting with a letter or digit",
});

/**
 * The name of one side of a line: any language's letters, but nothing a spreadsheet would run as a
 * formula when a city office opens the CSV (= + - @ first), no control characters, no `$`.
 */
const SideName = (options: { default?: string; description: string }) =>
  Type.String({
    minLength: 1,
    maxLength: 64,
    pattern: "^[^\\s=+\\-@$\\u0000-\\u001f\\u007f-\\u009f][^$\\u0000-\\u001f\\u007f-\\u009f]*$",
    "x-rule": "no control characters or $, and not starting with a space, = + - or @",
    ...options,
  });

/** Lines and zones a device counts at most (each adds rows to every interval message). */
export const MAX_LINES = 50;
export const MAX_ZONES = 50;

const DeviceSchema = Type.Object(
  {
    id: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: "^[A-Za-z0-9][A-Za-z0-9_-]*$",
      description: "Stable device id: MQTT client id and topic segment. Letters, digits, _ and -.",
    }),
    name: Type.String({ default: "", description: "Human-readable name shown on dashboards" }),
    location: Type.Object(
      {
        latitude: Type.Number({ minimum: -90, maximum: 90, description: "WGS84 latitude of the unit" }),
        longitude: Type.Number({ minimum: -180, maximum: 180, description: "WGS84 longitude of the unit" }),
        description: Type.String({ default: "", description: "Where it hangs, which way it looks" }),
      },
      strict,
    ),
  },
  strict,
);

export const CameraSchema = Type.Object(
  {
    source: Type.String({
      minLength: 1,
      description:
        "rtsp://..., http(s)://... (MJPEG), a video file, /dev/videoN, 'rpicam', or a folder of images",
    }),
    kind: oneOf(["auto", "ffmpeg", "mjpeg-http", "rpicam", "folder"], {
      default: "auto",
      description:
        "auto: http(s) is read as MJPEG, 'rpicam' is the Pi camera, a folder is images, the rest goes through ffmpeg",
    }),
    fps: Type.Number({
      exclusiveMinimum: 0,
      maximum: 60,
      default: 10,
      description: "Frames per second to analyse (live)",
    }),
    mode: oneOf(["auto", "live", "replay"], {
      default: "auto",
      description:
        "live: the newest frame wins, never a backlog; replay: every frame in order at full speed (files, folders). auto: replay for files and folders",
    }),
    replayFps: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 240,
        description: "Frame rate of a recording, for its timestamps (default: what the file says)",
      }),
    ),
    captureWidth: Type.Integer({
      minimum: 64,
      maximum: 4096,
      default: 1280,
      description: "Raspberry Pi camera capture size",
    }),
    captureHeight: Type.Integer({
      minimum: 64,
      maximum: 4096,
      default: 720,
      description: "See captureWidth",
    }),
    region: Type.Union(
      [
        oneOf(["whole", "lines"]),
        Type.Tuple(
          [
            Type.Number({ minimum: 0, maximum: 1 }),
            Type.Number({ minimum: 0, maximum: 1 }),
            Type.Number({ minimum: 0, maximum: 1 }),
            Type.Number({ minimum: 0, maximum: 1 }),
          ],
          { description: "[x1, y1, x2, y2]: two opposite corners as fractions of the frame (0..1)" },
        ),
      ],
      {
        default: "lines",
        description:
          "The part of the view the detector looks at. lines (default): the rectangle around the lines and zones (plus regionMargin), cropped before scaling to the model's input so far road users get more pixels (the whole view when they span it or there are none); whole: all of it; or [x1, y1, x2, y2]. ffmpeg sources (files, RTSP, USB) and JPEG sources; set-up mode always shows the whole view",
      },
    ),
    regionMargin: Type.Number({
      minimum: 0,
      maximum: 0.5,
      default: 0.1,
      description:
        "region 'lines': room around the lines and zones, as a fraction of the frame on each side, so road users are tracked before they reach a line",
    }),
    stallTimeoutSec: Type.Number({
      minimum: 1,
      maximum: 600,
      default: 10,
      description: "No frame for this long restarts the source",
    }),
    reconnectMinSec: Type.Number({
      minimum: 0.05,
      maximum: 600,
      default: 1,
      description:
        "First wait before restarting a failed source; doubles (with jitter) up to reconnectMaxSec",
    }),
    reconnectMaxSec: Type.Number({
      minimum: 0.05,
      maximum: 3600,
      default: 60,
      description: "Longest wait between restarts",
    }),
  },
  strict,
);

export const ModelSchema = Type.Object(
  {
    id: Type.String({
      minLength: 1,
      default: "yolox-nano",
      description: "A model id from models/manifest.json, or a path to an .onnx file",
    }),
    dir: Type.String({ default: "models", description: "Folder holding fetched model files" }),
    threads: Type.Integer({
      minimum: 0,
      maximum: 64,
      default: 0,
      description:
        "Inference threads; 0 = one per core the OS reports (set by the counter, not left to ONNX Runtime, whose own default can be fewer). When they take every core, the worker runs the model at a lower priority (nice +5) than the Node thread",
    }),
    graphOptimization: oneOf(["disabled", "basic", "extended", "all"], {
      default: "all",
      description: "ONNX Runtime graph optimisation level",
    }),
    executionProviders: Type.Array(oneOf(["cpu", "cuda", "tensorrt"]), {
      minItems: 1,
      default: ["cpu"],
      description:
        "In order of preference; an unavailable one is skipped with a warning, CPU is the fallback",
    }),
    confidence: Type.Number({
      minimum: 0.001,
      maximum: 1,
      default: 0.2,
      description:
        "Minimum detection score handed to the tracker, which also uses low-score detections to keep tracks alive",
    }),
    iou: Type.Number({ minimum: 0.05, maximum: 1, default: 0.45, description: "NMS IoU threshold" }),
    classes: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      default: [...DEFAULT_COUNTED_CLASSES],
      description: "Model class names to keep",
    }),
    maxDetections: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 300,
      description: "Per frame, after NMS",
    }),
    inference: oneOf(["worker", "main-thread"], {
      default: "worker",
      description:
        "Where the model runs: in a worker thread, so that camera, API and MQTT never wait behind an inference, or on the Node thread",
    }),
    precision: oneOf(["auto", "float32", "int8"], {
      default: "auto",
      description:
        "Which variant of the model runs: auto times the float32 and int8 (`counter model quantize`) files on this device at start, remembers the result, and runs int8 only when it is at least 10 % faster",
    }),
  },
  strict,
);

export const LineSchema = Type.Object(
  {
    name: Name,
    points: Type.Array(RelativePoint, {
      minItems: 2,
      maxItems: 32,
      "x-noun": "points",
      description: "Two or more points: a segment or polyline",
    }),
    from: SideName({ default: "A", description: "Name of the side a crossing starts on" }),
    to: SideName({ default: "B", description: "Name of the other side" }),
    inboundTo: Type.Optional(
      SideName({
        description:
          "NGSI-LD: the side (from or to) towards the city centre; crossings towards it are CrowdFlowObserved `inbound` (default: to)",
      }),
    ),
    forwardTo: Type.Optional(
      SideName({
        description:
          "NGSI-LD: the side (from or to) that traffic in the road's forward direction heads for; crossings towards it are TrafficFlowObserved `forward` (default: to)",
      }),
    ),
  },
  strict,
);

export const ZoneSchema = Type.Object(
  {
    name: Name,
    polygon: Type.Array(RelativePoint, {
      minItems: 3,
      maxItems: 64,
      "x-noun": "points",
      description: "Three or more points enclosing an area",
    }),
    dwellThresholdSec: Type.Number({
      minimum: 0,
      default: DEFAULT_DWELL_THRESHOLD_SEC,
      description: "Time inside above which a visitor counts as staying rather than passing through",
    }),
  },
  strict,
);

const TrackerSchema = Type.Object(
  {
    lostBufferSec: Type.Number({
      minimum: 0,
      maximum: 60,
      default: 2,
      description:
        "How long a track that is not seen (occlusion) is kept for re-identification, and how far back a new track looks for faint sightings of its object, in seconds",
    }),
    minHits: Type.Integer({
      minimum: 1,
      maximum: 30,
      default: 3,
      description: "Matched frames before a track counts",
    }),
  },
  { ...strict, default: {} },
);

const CountingSchema = Type.Object(
  {
    anchor: oneOf(ANCHORS, {
      default: "bottom-center",
      description:
        "Point of the box that must cross a line or be inside a zone; feet and wheels are at the bottom",
    }),
    minCrossingDistance: Type.Number({
      minimum: 0,
      maximum: 2,
      default: 0.15,
      description:
        "Hysteresis: distance past a line, in the object's box heights, after which a crossing counts",
    }),
    minCrossingSec: Type.Number({
      minimum: 0,
      maximum: 30,
      default: 1,
      description:
        "Hysteresis: time on the new side after which a crossing counts, if the distance was not reached",
    }),
    motorcycleShare: Type.Number({
      minimum: 0.01,
      maximum: 0.99,
      default: DEFAULT_MOTORCYCLE_SHARE,
      description:
        "Expected share of motorcycles among two-wheelers here (0.1 suits a city street with many bicycles): a two-wheeler counts as a motorcycle only when the detector's evidence outweighs this prior",
    }),
    riderSpeed: Type.Number({
      minimum: 0,
      maximum: 20,
      default: 2,
      description:
        "A person moving faster than this many of their own heights per second (walking 0.6-1, running up to about 2, cycling 2-4) for 0.6 s is counted as riding, also when no bicycle or motorcycle is seen under them; raise it where people run (a race, a sports ground), 0 turns the rule off",
    }),
    modes: Type.Record(Type.String(), Type.String({ minLength: 1, pattern: "^[a-z][a-z0-9_-]*$" }), {
      default: { ...DEFAULT_MODE_OF },
      description:
        "Mode reported per detector class, e.g. car, bus and truck all as 'vehicle'. A person riding a bicycle is a cyclist.",
    }),
  },
  { ...strict, default: {} },
);

/** How a client logs in to the broker and checks it: the same for a device and a site process. */
export const MqttLoginFields = {
  username: Type.Optional(Type.String({ description: "Required when a password is set" })),
  password: Type.Optional(
    Type.String({ description: "Secret: write ${ENV_NAME} to read it from the environment" }),
  ),
  protocolVersion: Type.Union([Type.Literal(4), Type.Literal(5)], {
    default: 4,
    description: "4 = MQTT 3.1.1, 5 = MQTT 5",
  }),
  tls: Type.Object(
    {
      ca: Type.Optional(Type.String({ description: "Path to a CA certificate (PEM)" })),
      cert: Type.Optional(Type.String({ description: "Path to a client certificate (PEM)" })),
      key: Type.Optional(Type.String({ description: "Path to the client key (PEM)" })),
      rejectUnauthorized: Type.Boolean({
        default: true,
        description: "Refuse a broker certificate that the CA does not vouch for",
      }),
    },
    { ...strict, default: {} },
  ),
};

const MqttSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: "Publish over MQTT (counts are stored either way)" }),
    url: Type.String({
      default: "mqtt://127.0.0.1:1883",
      pattern: "^(mqtts?|wss?|tcp|ssl)://",
      description: "Broker: mqtt://, mqtts://, ws://, wss://",
    }),
    baseTopic: Type.String({
      default: "counter",
      minLength: 1,
      pattern: "^[^#+]+$",
      description: "Topics are {baseTopic}/{device id}/counts and /status (docs/mqtt.md)",
    }),
    username: MqttLoginFields.username,
    password: MqttLoginFields.password,
    protocolVersion: MqttLoginFields.protocolVersion,
    reconnectMinSec: Type.Number({
      exclusiveMinimum: 0,
      default: 1,
      description: "First wait before reconnecting; it doubles after each failed attempt",
    }),
    reconnectMaxSec: Type.Number({
      exclusiveMinimum: 0,
      default: 120,
      description: "Longest wait between reconnect attempts, also after the broker refused the credentials",
    }),
    format: oneOf(["native", "ngsi-ld"], {
      default: "native",
      description: "Payload of the counts topic: native JSON (docs/mqtt.md) or FIWARE NGSI-LD entities",
    }),
    os2iot: Type.Optional(
      Type.Object(
        {
          organizationId: Type.String({
            minLength: 1,
            pattern: "^[^/#+]+$",
            description: "OS2iot organisation id",
          }),
          applicationId: Type.String({
            minLength: 1,
            pattern: "^[^/#+]+$",
            description: "OS2iot application id",
          }),
        },
        {
          ...strict,
          description:
            "Publish to OS2iot's MQTT receiver: devices/{organizationId}/{applicationId}/{device id}",
        },
      ),
    ),
    tls: MqttLoginFields.tls,
  },
  { ...strict, default: {} },
);

const StorageSchema = Type.Object(
  {
    path: Type.String({
      default: "data/counter.db",
      minLength: 1,
      description: "SQLite file: interval history and outbox",
    }),
    retentionDays: Type.Integer({
      minimum: 1,
      maximum: 3650,
      default: 90,
      description: "History kept this long",
    }),
    maxSizeMb: Type.Number({
      minimum: 0,
      default: 0,
      description:
        "Upper bound of the database size (0 = none); when reached, counts are held in memory and status says so",
    }),
    checkpointSec: Type.Number({
      minimum: 1,
      maximum: 3600,
      default: 10,
      description:
        "The interval in progress is saved this often; after a power loss or kill, the restart delivers it as a partial interval",
    }),
  },
  { ...strict, default: {} },
);

const AggregationSchema = Type.Object(
  {
    periodSec: Type.Integer({
      minimum: 1,
      maximum: 86_400,
      default: 60,
      description: "Interval length; intervals are aligned to the wall clock (e.g. 900 = :00, :15, :30, :45)",
    }),
  },
  { ...strict, default: {} },
);

/** Shortest interval published without an explicit opt-in: below it counts approach single passages. */
export const MIN_PUBLISHED_PERIOD_SEC = 60;

const PrivacySchema = Type.Object(
  {
    allowShortIntervals: Type.Boolean({
      default: false,
      description: `Allow aggregation.periodSec below ${MIN_PUBLISHED_PERIOD_SEC} s (close to per-passage data; \`config check\` warns)`,
    }),
    minDwellVisitors: Type.Integer({
      minimum: 1,
      default: 5,
      description:
        "Dwell percentiles (p50/p90) are published only for a zone, mode and interval with at least this many visitors; null otherwise",
    }),
  },
  { ...strict, default: {} },
);

const ApiSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: "Serve the local API (health, metrics, counts)" }),
    host: Type.String({
      default: "127.0.0.1",
      description: "Bind address; anything but loopback requires a token",
    }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 8080,
      description: "TCP port of the local API",
    }),
    token: Type.Optional(
      Type.String({
        minLength: 16,
        description: "Bearer token; write ${ENV_NAME} to read it from the environment",
      }),
    ),
    allowedHosts: Type.Array(
      Type.String({
        minLength: 1,
        maxLength: 253,
        pattern: "^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$",
        "x-rule": "a host name: letters, digits, . and -",
      }),
      {
        default: [],
        maxItems: 32,
        description:
          "Host names (besides IP addresses, localhost and this machine's own name) the page is opened by, e.g. pole-7.city.example; a request naming any other host is refused, so that a web page whose name resolves to this device (DNS rebinding) cannot use the API",
      },
    ),
  },
  { ...strict, default: {} },
);

const SetupSchema = Type.Object(
  {
    maxMinutes: Type.Number({
      exclusiveMinimum: 0,
      maximum: 120,
      default: 10,
      description:
        "Set-up mode (the scene preview without road users, live positions) switches itself off after this many minutes",
    }),
    sampleEverySec: Type.Number({
      minimum: 0.2,
      maximum: 60,
      default: 2,
      description:
        "While set-up mode is on, one frame in this many seconds goes into the preview's temporal median",
    }),
  },
  { ...strict, default: {} },
);

export const ConfigSchema = Type.Object(
  {
    device: DeviceSchema,
    camera: CameraSchema,
    model: Type.Object(ModelSchema.properties, { ...strict, default: {} }),
    lines: Type.Array(LineSchema, { default: [], maxItems: MAX_LINES, "x-noun": "lines" }),
    zones: Type.Array(ZoneSchema, { default: [], maxItems: MAX_ZONES, "x-noun": "zones" }),
    tracker: TrackerSchema,
    counting: CountingSchema,
    aggregation: AggregationSchema,
    privacy: PrivacySchema,
    storage: StorageSchema,
    mqtt: MqttSchema,
    api: ApiSchema,
    setup: SetupSchema,
  },
  {
    ...strict,
    $id: "https://github.com/edge-counter/edge-counter/docs/config.schema.json",
    title: "Edge counter device configuration",
  },
);

export type Config = Static<typeof ConfigSchema>;
export type ModelConfig = Static<typeof ModelSchema>;
