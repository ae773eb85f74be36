import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runInNewContext } from "node:vm";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsImport from "ajv-formats";
import jsonld from "jsonld";
import { describe, expect, it } from "vitest";
import { configWarnings } from "../edge/config/load.ts";
import type { IntervalCounts, LineCount } from "../edge/domain/types.ts";
import { NGSI_LD_CONTEXT, ngsiLdEntities } from "../edge/publish/messages.ts";
import { countsRenderer } from "../edge/publish/topics.ts";
import { REPO_ROOT } from "./helpers/assets.ts";
import { deviceConfig } from "./helpers/device-config.ts";

// The official Smart Data Models schemas and context, vendored with their commits (SOURCES.md).
const FIXTURES = join(REPO_ROOT, "test/fixtures/smart-data-models");
const fixture = (f: string) => JSON.parse(readFileSync(join(FIXTURES, f), "utf8")) as Record<string, unknown>;
const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

function validators(): Record<string, ValidateFunction> {
  // the models declare `http://json-schema.org/schema#` (no draft): read them as written, unchecked
  const ajv = addFormats(new Ajv({ strict: false, validateSchema: false, allErrors: true }));
  // draft-04 `id`, which Ajv 8 does not read: the schema goes in under that same URI instead
  const { id: geometryUri, ...geometry } = fixture("geojson-geometry.json");
  ajv.addSchema(geometry, String(geometryUri).replace(/#$/, ""));
  ajv.addSchema(fixture("fiware-common-schema.json"));
  ajv.addSchema(fixture("sdm-common-schema.excerpt.json"));
  return {
    TrafficFlowObserved: ajv.compile(fixture("TrafficFlowObserved.schema.json")),
    CrowdFlowObserved: ajv.compile(fixture("CrowdFlowObserved.schema.json")),
  };
}
const validate = validators();

type Entity = Record<string, unknown> & { id: string; type: string };

/** NGSI-LD normalized -> key-values (the form the JSON Schemas describe). */
function keyValues(e: Entity): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === "@context") continue;
    if (v && typeof v === "object" && "type" in v) {
      const p = v as { type: string; value?: unknown; object?: unknown };
      out[k] = p.type === "Relationship" ? p.object : p.value;
    } else out[k] = v;
  }
  return out;
}

function errorsOf(e: Entity): string[] {
  const v = validate[e.type];
  if (!v) return [`no schema for type ${e.type}`];
  return v(keyValues(e)) ? [] : (v.errors ?? []).map((x) => `${x.instancePath} ${x.message}`);
}

const MODES = ["pedestrian", "cyclist", "car", "bus", "truck", "motorcyclist"];
const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);

function interval(partial: boolean, lines: { name: string; from: string; to: string }[]): IntervalCounts {
  const rows: LineCount[] = [];
  for (const l of lines)
    for (const [from, to] of [
      [l.from, l.to],
      [l.to, l.from],
    ] as const)
      for (const [i, mode] of MODES.entries())
        rows.push({ line: l.name, from, to, mode, count: i + (from === l.from ? 1 : 2) });
  return {
    deviceId: "square-1",
    startMs: T0,
    endMs: T0 + 900_000,
    partial,
    quality: {
      coverageSec: partial ? 412.5 : 899,
      coverage: partial ? 0.458 : 0.999,
      blindSec: 0,
      scene: { darkSec: 0, overexposedSec: 0, obscuredSec: 0, frozenSec: 0, movedSec: 0 },
      framesProcessed: 8990,
      meanFps: 10,
      framesDropped: 0,
      framesCorrupt: 0,
      cameraStateChanges: 0,
      cameraDownSec: 0,
      geometryChanged: false,
    },
    lines: rows,
    zones: [
      {
        zone: "plaza",
        mode: "pedestrian",
        entries: 4,
        exits: 3,
        occupancyMean: 2.5,
        occupancyMax: 6,
        staying: 1,
        passing: 2,
        dwellP50Sec: null,
        dwellP90Sec: null,
      },
    ],
  };
}

const lines = [
  {
    name: "high-street",
    points: [
      [0, 0.5],
      [1, 0.5],
    ],
    from: "north",
    to: "south",
    inboundTo: "south",
    forwardTo: "north",
  },
  {
    name: "path",
    points: [
      [0.5, 0],
      [0.5, 1],
    ],
    from: "west",
    to: "east",
  },
];

function entitiesOf(partial: boolean, seq = 7, os2iot = false): { entities: Entity[]; payload: string } {
  const { config } = deviceConfig("square-1", "mqtt://127.0.0.1:1883", {
    lines,
    zones: [
      {
        name: "plaza",
        polygon: [
          [0.2, 0.2],
          [0.8, 0.2],
          [0.8, 0.8],
        ],
      },
    ],
    mqtt: {
      url: "mqtt://127.0.0.1:1883",
      format: "ngsi-ld",
      ...(os2iot ? { os2iot: { organizationId: "7", applicationId: "12" } } : {}),
    },
  });
  const { payload } = countsRenderer(config)(interval(partial, config.lines), seq);
  return { entities: (JSON.parse(payload) as { entities: Entity[] }).entities, payload };
}

describe("NGSI-LD entities against the official Smart Data Models", () => {
  it.each([
    ["a whole interval", false],
    ["a partial interval", true],
  ])("%s: every entity of every mode validates against its model's schema", (_name, partial) => {
    const { entities } = entitiesOf(partial);
    expect(entities).toHaveLength(2 * 2 * MODES.length); // lines x directions x modes; zones are not sent
    expect(new Set(entities.map((e) => e.type))).toEqual(
      new Set(["TrafficFlowObserved", "CrowdFlowObserved"]),
    );
    for (const e of entities) expect({ id: e.id, errors: errorsOf(e) }).toEqual({ id: e.id, errors: [] });
  });

  it("the checks can fail: what the counter used to send is rejected", () => {
    const [e] = entitiesOf(false).entities.filter((x) => x.type === "TrafficFlowObserved");
    const prop = (value: unknown) => ({ type: "Property", value });
    expect(errorsOf({ ...e!, laneDirection: prop("north>south") }).join()).toMatch(/laneDirection/);
    expect(errorsOf({ ...e!, vehicleType: prop("truck") }).join()).toMatch(/vehicleType/);
    const { dateObserved: _dropped, ...withoutDate } = e!;
    expect(errorsOf(withoutDate as Entity).join()).toMatch(/dateObserved/);
    const [c] = entitiesOf(false).entities.filter((x) => x.type === "CrowdFlowObserved");
    expect(errorsOf({ ...c!, direction: prop("west>east") }).join()).toMatch(/direction/);
  });

  it("modes map to the models: cyclists are bicycle traffic, lorries and motorcycles by their model names", () => {
    const { entities } = entitiesOf(false);
    const of = (mode: string) => entities.filter((e) => e.id.includes(`:${mode}:`));
    const kv = (e: Entity) => keyValues(e);
    expect(of("pedestrian").map((e) => e.type)).toEqual(Array(4).fill("CrowdFlowObserved"));
    expect(of("cyclist").map((e) => kv(e).vehicleType)).toEqual(Array(4).fill("bicycle"));
    expect(of("truck").map((e) => kv(e).vehicleType)).toEqual(Array(4).fill("lorry"));
    expect(of("motorcyclist").map((e) => kv(e).vehicleType)).toEqual(Array(4).fill("motorcycle"));
    const first = kv(of("car")[0]!);
    expect(first.dateObserved).toBe("2026-11-23T10:00:00.000Z/2026-11-23T10:15:00.000Z");
    expect(first.intensity).toBe(3); // car is the third mode, north>south adds 1
    expect(entities.every((e) => !("mode" in e) && !("occupancy" in e))).toBe(true);
  });

  it("directions follow the line's inboundTo / forwardTo, defaulting to its `to` side", () => {
    const kv = entitiesOf(false).entities.map((e) => ({ ...keyValues(e), id: e.id }));
    const pick = (line: string, dir: string, mode: string) =>
      kv.find((e) => e.id.includes(`:${line}:${dir}:${mode}:`)) as Record<string, unknown>;
    // high-street: towards south is inbound, towards north is forward
    expect(pick("high-street", "north-south", "pedestrian").direction).toBe("inbound");
    expect(pick("high-street", "south-north", "pedestrian").direction).toBe("outbound");
    expect(pick("high-street", "south-north", "car").laneDirection).toBe("forward");
    expect(pick("high-street", "north-south", "car").laneDirection).toBe("backward");
    // path: nothing set, from -> to is inbound and forward
    expect(pick("path", "west-east", "pedestrian").direction).toBe("inbound");
    expect(pick("path", "west-east", "bus").laneDirection).toBe("forward");
    expect(pick("path", "east-west", "bus").laneDirection).toBe("backward");
  });

  it("ids are stable per interval: a redelivery upserts the same entities, two partial halves do not collide", () => {
    const ids = (partial: boolean, seq: number) => entitiesOf(partial, seq).entities.map((e) => e.id);
    expect(new Set(ids(false, 7)).size).toBe(ids(false, 7).length);
    expect(ids(false, 8)).toEqual(ids(false, 7)); // a whole interval has one id whatever its seq
    expect(ids(true, 7)).toEqual(ids(true, 7)); // the same delivery again
    expect(ids(true, 8).filter((id) => ids(true, 7).includes(id))).toEqual([]); // the restart's half
  });

  it("config check warns in ngsi-ld mode when a line says neither which side is inbound nor forward", () => {
    const { config } = deviceConfig("square-1", "mqtt://127.0.0.1:1883", {
      lines,
      mqtt: { url: "mqtt://127.0.0.1:1883", format: "ngsi-ld" },
    });
    const w = configWarnings(config).filter((x) => x.startsWith("lines["));
    expect(w).toEqual([
      'lines[1].inboundTo, forwardTo: not set; crossings towards "east" are reported as inbound and forward in NGSI-LD',
    ]);
    expect(() =>
      deviceConfig("square-1", "mqtt://127.0.0.1:1883", { lines: [{ ...lines[0], inboundTo: "up" }] }),
    ).toThrow(/lines\[0\]\.inboundTo: expected one of the line's sides "north", "south", got "up"/);
  });

  it("JSON-LD: with the Smart Data Models context the terms expand to the models' IRIs", async () => {
    const sdm = fixture("transportation-context.excerpt.jsonld");
    const documentLoader = async (url: string) => {
      if (url !== NGSI_LD_CONTEXT[0]) throw new Error(`no network in this test: ${url}`);
      return { contextUrl: undefined, documentUrl: url, document: sdm as jsonld.JsonLdDocument };
    };
    const { entities } = entitiesOf(false);
    expect(entities.every((e) => JSON.stringify(e["@context"]) === JSON.stringify(NGSI_LD_CONTEXT))).toBe(
      true,
    );
    const traffic = entities.find((e) => e.type === "TrafficFlowObserved")!;
    const crowd = entities.find((e) => e.type === "CrowdFlowObserved")!;
    // the key-values form with the Smart Data Models context (the core context adds NGSI-LD's own
    // terms such as `value`; it is published by ETSI and not vendored here)
    const expand = async (e: Entity): Promise<Record<string, unknown>> => {
      const doc = { ...keyValues(e), "@context": NGSI_LD_CONTEXT[0] } as jsonld.JsonLdDocument;
      const options = { documentLoader } as unknown as jsonld.Options.Expand;
      return (await jsonld.expand(doc, options))[0] as Record<string, unknown>;
    };
    const t = await expand(traffic);
    const c = await expand(crowd);
    const SDM = "https://smartdatamodels.org/dataModel.Transportation/";
    expect(t["@type"]).toEqual(["TrafficFlowObserved"]);
    expect(t).toHaveProperty([`${SDM}intensity`]);
    expect(t).toHaveProperty([`${SDM}vehicleType`]);
    expect(t).toHaveProperty([`${SDM}laneDirection`]);
    expect(t).toHaveProperty(["https://smartdatamodels.org/dateObserved"]);
    expect(c).toHaveProperty([`${SDM}peopleCount`]);
    expect(c).toHaveProperty([`${SDM}direction`]);
    expect(c).toHaveProperty(["https://uri.etsi.org/ngsi-ld/location"]);
    expect((c[`${SDM}peopleCount`] as { "@value": number }[])[0]!["@value"]).toBe(1);
  });

  it("docs/mqtt.md shows the entities exactly as the counter builds them", () => {
    const doc = readFileSync(join(REPO_ROOT, "docs/mqtt.md"), "utf8");
    const section = doc.slice(doc.indexOf("exactly as sent"));
    const blocks = [...section.matchAll(/```json\n([\s\S]*?)```/g)].slice(0, 2).map((m) => JSON.parse(m[1]!));
    const iv = interval(false, []);
    const shown = ngsiLdEntities(
      {
        ...iv,
        quality: { ...iv.quality, coverageSec: 897.5, coverage: 0.997 },
        lines: [
          { line: "gate", from: "north", to: "south", mode: "pedestrian", count: 12 },
          { line: "gate", from: "south", to: "north", mode: "cyclist", count: 5 },
        ],
      },
      42,
      { id: "square-1", name: "", latitude: 55.68, longitude: 12.57 },
      [{ name: "gate", to: "south", inboundTo: "south", forwardTo: "south" }],
    );
    expect(blocks).toEqual(shown);
    for (const e of shown) expect(errorsOf(e as Entity)).toEqual([]);
  });

  it("OS2iot: the payload decoder, run in a vm sandbox as OS2iot runs it, hands the entities to a FIWARE data target", () => {
    const { payload } = entitiesOf(true, 11, true);
    const source = readFileSync(join(REPO_ROOT, "docs/os2iot-decoder.js"), "utf8");
    const decoded = runInNewContext(`${source}\ndecode(payload, { name: "Square" })`, {
      payload: JSON.parse(payload),
    }) as Entity[];
    expect(Array.isArray(decoded)).toBe(true);
    expect(decoded).toHaveLength(2 * 2 * MODES.length);
    for (const e of decoded) expect({ id: e.id, errors: errorsOf(e) }).toEqual({ id: e.id, errors: [] });
  });
});
