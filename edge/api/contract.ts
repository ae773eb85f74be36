import { type Static, Type } from "@sinclair/typebox";
import { CameraSchema, LineSchema, ZoneSchema } from "../config/schema.ts";
import { ANCHORS } from "../domain/counting-settings.ts";

/**
 * The local API's requests and answers, declared once: fastify validates bodies and serialises
 * answers with these schemas, and the device's page imports their `Static` types. Nothing here needs
 * Node (the page is type-checked with the browser's types only).
 */

type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

export const AnchorSchema = Type.Union(
  ANCHORS.map((a) => Type.Literal(a)),
  { description: "counting.anchor: the point of each box that is counted" },
);

/** Any refusal: what was wrong; `problems` lists a configuration's, each with its path. */
export const ErrorAnswer = Type.Object({
  error: Type.String(),
  problems: Type.Optional(Type.Array(Type.String())),
  /** A save from an old revision (409): the file's revision now. */
  revision: Type.Optional(Nullable(Type.String())),
  samples: Type.Optional(Type.Number()),
  samplesNeeded: Type.Optional(Type.Number()),
});
export type ErrorAnswer = Static<typeof ErrorAnswer>;

const State = <const T extends readonly string[]>(states: T) =>
  Type.Union(states.map((s) => Type.Literal(s)));

/** `GET /health`: 200 when ready (model loaded, camera up), 503 otherwise, with the same body. */
export const HealthAnswer = Type.Object({
  status: State(["ok", "degraded", "not-ready"] as const),
  live: Type.Boolean(),
  ready: Type.Boolean(),
  model: Nullable(Type.String()),
  camera: Nullable(
    Type.Object({
      state: Type.String({ description: "starting, up, down, ended" }),
      since: Type.String({ format: "date-time" }),
      lastError: Nullable(Type.String()),
      restarts: Type.Integer(),
    }),
  ),
  broker: Type.Object({
    state: State(["connected", "disconnected", "disabled"] as const),
    lastError: Nullable(Type.String()),
  }),
  database: Type.Object({ state: State(["ok", "error"] as const), error: Nullable(Type.String()) }),
  outboxDepth: Type.Integer(),
  setup: Type.Object({
    active: Type.Boolean(),
    since: Nullable(Type.String()),
    until: Nullable(Type.String()),
  }),
  /** Can the counter see (docs/mqtt.md#scene-health)? A raised state makes the health degraded. */
  scene: Type.Object({
    states: Type.Array(Type.String({ description: "dark, overexposed, obscured, frozen, moved" })),
    since: Nullable(Type.String()),
    learning: Type.Boolean(),
  }),
});
export type HealthAnswer = Static<typeof HealthAnswer>;

/** `GET /api/session`: whether the page must log in, and the CSRF token of its session. */
export const SessionAnswer = Type.Object({
  loginRequired: Type.Boolean(),
  authenticated: Type.Boolean(),
  csrf: Nullable(Type.String()),
  expires: Nullable(Type.String()),
});
export type SessionAnswer = Static<typeof SessionAnswer>;

export const LoginBody = Type.Object(
  { token: Type.String({ maxLength: 4096 }) },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;
export const LoginAnswer = Type.Object({ csrf: Type.String(), expires: Type.String() });
export type LoginAnswer = Static<typeof LoginAnswer>;

/** Where the detector looks (`camera.region`), for the page to draw. */
export const DetectionRegionInfo = Type.Object({
  setting: CameraSchema.properties.region,
  margin: Type.Number(),
  /** The model input's width / height (the shape a region around lines grows to); null before loading. */
  inputAspect: Nullable(Type.Number()),
});
export type DetectionRegionInfo = Static<typeof DetectionRegionInfo>;

/** `GET /api/geometry` and a save's answer: the lines and zones counted now, as configured. */
export const GeometryAnswer = Type.Object({
  lines: Type.Array(LineSchema),
  zones: Type.Array(ZoneSchema),
  anchor: AnchorSchema,
  /** The device file's revision, which a save names (null: started without a file). */
  revision: Nullable(Type.String()),
  /** Absent: the detector sees the whole view. */
  region: Type.Optional(DetectionRegionInfo),
});
export type GeometryAnswer = Static<typeof GeometryAnswer>;
/** The same as the server holds it: nothing in it is changed in place. */
export type GeometryView = DeepReadonly<GeometryAnswer>;
export type LineSetting = GeometryAnswer["lines"][number];
export type ZoneSetting = GeometryAnswer["zones"][number];

/**
 * `PUT /api/geometry`. Lines, zones and the anchor are checked here only as JSON of the right shape
 * (arrays): they are validated with the whole configuration, so every problem is named by its path
 * in the device file (`lines[0].points`), as `config check` names it.
 */
export const GeometryEdit = Type.Object(
  {
    lines: Type.Array(Type.Unknown()),
    zones: Type.Array(Type.Unknown()),
    anchor: Type.Optional(
      Type.Unknown({ description: "counting.anchor, validated with the whole configuration" }),
    ),
    revision: Type.Optional(
      Type.String({
        maxLength: 64,
        description: "The revision the edit started from (GET /api/geometry)",
      }),
    ),
  },
  { additionalProperties: false },
);
export type GeometryEdit = Static<typeof GeometryEdit>;

/** `POST /api/setup`. */
export const SetupBody = Type.Object({ active: Type.Boolean() }, { additionalProperties: false });

/** The query of a route that takes no parameters: none may be given (an unknown one is a 400). */
export const NoQuery = Type.Object({}, { additionalProperties: false });
