import { type Static, Type } from "@sinclair/typebox";
import { Count } from "../domain/counts.ts";

/**
 * The site's payloads, declared once: the site process makes them, the Site page reads them (this
 * module imports nothing of Node), docs/mqtt-site*.schema.json are generated from them.
 */

/** Version of the site payloads; bumped on any incompatible change (docs/mqtt.md). */
export const SITE_SCHEMA_VERSION = 1;

/** The site's MQTT topics: one site process per site, many sites on one broker. */
export function siteTopics(baseTopic: string, siteId: string): { occupancy: string; alarm: string } {
  return {
    occupancy: `${baseTopic}/site/${siteId}/occupancy`,
    alarm: `${baseTopic}/site/${siteId}/alarm`,
  };
}

const Iso = Type.String({ format: "date-time" });
const IsoOrNull = Type.Union([Iso, Type.Null()]);

const GateStateSchema = Type.Union(
  [Type.Literal("ok"), Type.Literal("offline"), Type.Literal("blind"), Type.Literal("unknown")],
  {
    description:
      "ok: online and observing; offline: its status says offline or no interval arrived for offlineAfterIntervals of its intervals; blind: camera down, a scene state raised (its status's scene.states: dark, obscured, moved, ...) or its last interval's coverage below minCoverage; unknown: nothing heard since the site process started",
  },
);

const GateSchema = Type.Object(
  {
    gate: Type.String(),
    device: Type.String(),
    line: Type.String(),
    entered: Count,
    exited: Count,
    state: GateStateSchema,
    since: Type.Union([Iso, Type.Null()], { description: "When the gate entered this state" }),
    scene: Type.Array(Type.String(), {
      description: "Scene states the gate's device raises now (its status's scene.states); empty: it sees",
    }),
    coverage: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
      description: "Share of its last interval the device observed (null before the first)",
    }),
    lastIntervalEnd: IsoOrNull,
    intervals: Count,
    missingIntervals: Type.Integer({
      minimum: 0,
      description:
        "Gaps in the device's sequence numbers among the intervals received today: intervals not (yet) delivered",
    }),
  },
  { additionalProperties: false },
);

const ZoneSchema = Type.Object(
  {
    zone: Type.String(),
    device: Type.String(),
    occupancyMean: Type.Number({ minimum: 0 }),
    occupancyMax: Count,
    intervalEnd: IsoOrNull,
  },
  { additionalProperties: false },
);

/** `<base>/site/<site>/occupancy`, QoS 1, retained: the site now. */
export const SiteMessageSchema = Type.Object(
  {
    type: Type.Literal("site"),
    schemaVersion: Type.Literal(SITE_SCHEMA_VERSION),
    siteId: Type.String(),
    name: Type.String(),
    dayStart: Iso,
    occupancy: Type.Integer({
      minimum: 0,
      description:
        "People inside: entries minus exits since the reset, summed interval by interval in time order; where that would go below zero it stays at zero (see clamps)",
    }),
    partial: Type.Boolean({
      description: "At least one gate is offline, blind or not heard from: occupancy misses its crossings",
    }),
    partialSince: Type.Union([Iso, Type.Null()], {
      description: "Since when occupancy has been partial without a break",
    }),
    entered: Count,
    exited: Count,
    clamps: Type.Integer({
      minimum: 0,
      description:
        "Intervals today after which entries minus exits went below zero and occupancy was held at zero",
    }),
    peak: Type.Object(
      { occupancy: Count, at: IsoOrNull },
      { additionalProperties: false, description: "Today's highest occupancy and the end of its interval" },
    ),
    capacity: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    alarm: Type.Union([Type.String(), Type.Null()], { description: "The alarm level reached, or null" }),
    lastIntervalEnd: Type.Union([Iso, Type.Null()], {
      description: "End of the latest interval counted: occupancy is as of then",
    }),
    gates: Type.Array(GateSchema),
    zones: Type.Array(ZoneSchema),
    previousDay: Type.Union(
      [
        Type.Object(
          {
            dayStart: Iso,
            dayEnd: Iso,
            entered: Count,
            exited: Count,
            drift: Type.Integer({
              description:
                "Entries minus exits over the day: what the count says was still inside at the reset, when the grounds are empty, i.e. how far it drifted (negative: more exits than entries were counted)",
            }),
            clamps: Count,
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ],
      { description: "The day before this one, as it stands (late intervals still correct it)" },
    ),
    ts: Iso,
  },
  { additionalProperties: false, $id: "site.schema.json", title: "Edge counter site message" },
);
export type SiteMessage = Static<typeof SiteMessageSchema>;
export type GateReport = Static<typeof GateSchema>;
export type ZoneReport = Static<typeof ZoneSchema>;
export type GateState = Static<typeof GateStateSchema>;

/** `<base>/site/<site>/alarm`, QoS 1, retained: published whenever the level changes. */
export const AlarmMessageSchema = Type.Object(
  {
    type: Type.Literal("alarm"),
    schemaVersion: Type.Literal(SITE_SCHEMA_VERSION),
    siteId: Type.String(),
    level: Type.Union([Type.String(), Type.Null()], { description: "The level now; null below every level" }),
    previousLevel: Type.Union([Type.String(), Type.Null()]),
    occupancy: Count,
    capacity: Type.Integer({ minimum: 1 }),
    percent: Type.Number({ minimum: 0 }),
    partial: Type.Boolean({
      description: "Occupancy was partial (a gate offline or blind) when this was raised",
    }),
    ts: Iso,
  },
  { additionalProperties: false, $id: "site-alarm.schema.json", title: "Edge counter site alarm message" },
);
export type AlarmMessage = Static<typeof AlarmMessageSchema>;
