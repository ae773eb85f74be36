import { Type } from "@sinclair/typebox";

/**
 * The counts of one interval, as schemas: the TypeScript types in types.ts and the JSON Schema of
 * the published messages (publish/messages.ts) both come from these, so they cannot drift.
 */

export const Count = Type.Integer({ minimum: 0 });
const NullableSec = Type.Union([Type.Number({ minimum: 0 }), Type.Null()]);

export const QualitySchema = Type.Object(
  {
    coverageSec: Type.Number({
      minimum: 0,
      description: "Seconds of the interval during which frames were processed",
    }),
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
