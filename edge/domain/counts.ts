import { Type } from "@sinclair/typebox";

/**
 * The counts of one interval, as schemas: the TypeScript types in types.ts and the JSON Schema of
 * the published messages (publish/messages.ts) both come from these, so they cannot drift.
 */

export const Count = Type.Integer({ minimum: 0 });
const NullableSec = Type.Union([Type.Number({ minimum: 0 }), Type.Null()]);

/** Seconds of an interval in each scene state (docs/mqtt.md#scene-health); states may overlap. */
export const SceneSecSchema = Type.Object(
  {
    darkSec: Type.Number({ minimum: 0, description: "Too dark to see road users" }),
    overexposedSec: Type.Number({ minimum: 0, description: "Much of the picture clipped white" }),
    obscuredSec: Type.Number({
      minimum: 0,
      description:
        "The texture of a large part of the view gone: lens covered, fogged, dirty or out of focus",
    }),
    frozenSec: Type.Number({ minimum: 0, description: "The source repeated one picture" }),
    movedSec: Type.Number({
      minimum: 0,
      description: "The view no longer matches its reference: the camera was knocked or turned",
    }),
  },
  { additionalProperties: false },
);

export const QualitySchema = Type.Object(
  {
    coverageSec: Type.Number({
      minimum: 0,
      description:
        "Seconds of the interval during which frames were processed and the scene could be seen (blindSec excluded)",
    }),
    // the scene check's fields are absent from counters older than it (and from intervals they stored)
    coverage: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1,
        description:
          "coverageSec as a share of the interval's length: 1 the whole interval was seen, 0 none of it (camera down, blind, not running). Absent from counters without the scene check.",
      }),
    ),
    blindSec: Type.Optional(
      Type.Number({
        minimum: 0,
        description:
          "Seconds during which frames were processed but the scene check found the view unusable (any state in `scene`). Absent from counters without the scene check.",
      }),
    ),
    scene: Type.Optional(SceneSecSchema),
    framesProcessed: Count,
    meanFps: Type.Number({ minimum: 0 }),
    framesDropped: Count,
    framesCorrupt: Count,
    cameraStateChanges: Count,
    cameraDownSec: Type.Number({ minimum: 0 }),
    geometryChanged: Type.Boolean({
      description:
        "Lines or zones were replaced at this interval's start or end; its counts were made with one geometry",
    }),
    crowdedSec: Type.Optional(
      Type.Number({
        minimum: 0,
        description:
          "Seconds of the interval in which people hid each other so much (0.15 or more of those seen, at least 4, with their feet hidden by someone nearer) that tracking saturates: counts of people run low then. Absent when none",
      }),
    ),
    estimatedCrossings: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          "Crossings counted on a ground point estimated from the road user's recent whole boxes, their feet hidden by someone nearer or an occluder. Absent when none",
      }),
    ),
  },
  { additionalProperties: false },
);

export const LineCountSchema = Type.Object(
  { line: Type.String(), from: Type.String(), to: Type.String(), mode: Type.String(), count: Count },
  { additionalProperties: false },
);

export const ZoneCountSchema = Type.Object(
  {
    zone: Type.String(),
    mode: Type.String(),
    entries: Count,
    exits: Count,
    occupancyMean: Type.Number({ minimum: 0 }),
    occupancyMax: Count,
    staying: Count,
    passing: Count,
    dwellP50Sec: NullableSec,
    dwellP90Sec: NullableSec,
  },
  { additionalProperties: false },
);
