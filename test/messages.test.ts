import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runInNewContext } from "node:vm";
import { Value } from "@sinclair/typebox/value";
import { describe, expect, it } from "vitest";
import type { IntervalCounts } from "../edge/domain/types.ts";
import {
  CountsMessageSchema,
  countsMessage,
  ngsiLdEntities,
  StatusMessageSchema,
} from "../edge/publish/messages.ts";
import { countsRenderer, lastWillStatus, topicFor } from "../edge/publish/topics.ts";
import { REPO_ROOT } from "./helpers/assets.ts";
import { deviceConfig } from "./helpers/device-config.ts";

const START = Date.UTC(2026, 10, 23, 10, 0, 0);
const interval: IntervalCounts = {
  deviceId: "square-1",
  startMs: START,
  endMs: START + 900_000,
  partial: false,
  quality: {
    coverageSec: 897.5,
    coverage: 0.997,
    blindSec: 2,
    scene: { darkSec: 2, overexposedSec: 0, obscuredSec: 0, frozenSec: 0, movedSec: 0 },
    framesProcessed: 8975,
    meanFps: 10,
    framesDropped: 3,
    framesCorrupt: 1,
    cameraStateChanges: 0,
    cameraDownSec: 0,
    geometryChanged: false,
  },
  lines: [
    { line: "gate", from: "north", to: "south", mode: "pedestrian", count: 12 },
    { line: "gate", from: "north", to: "south", mode: "cyclist", count: 4 },
    { line: "gate", from: "south", to: "north", mode: "car", count: 7 },
  ],
  zones: [
    {
      zone: "square",
      mode: "pedestrian",
      entries: 5,
      exits: 4,
      occupancyMean: 2.5,
      occupancyMax: 6,
      staying: 1,
      passing: 3,
      dwellP50Sec: 20,
      dwellP90Sec: 95,
    },
  ],
};
const device = { id: "square-1", name: "Square", latitude: 55.68, longitude: 12.57 };

describe("MQTT payloads", () => {
  it("the native counts message matches its published JSON Schema and has a stable id", () => {
    const m = countsMessage(interval, 42, device);
    expect([...Value.Errors(CountsMessageSchema, m)]).toEqual([]);
    expect(m.id).toBe("square-1:2026-11-23T10:00:00.000Z");
    expect(m.periodSec).toBe(900);
    const onDisk = JSON.parse(readFileSync(join(REPO_ROOT, "docs/mqtt-counts.schema.json"), "utf8"));
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(CountsMessageSchema)));
  });

  it("the offline status (last will) matches the status schema", () => {
    expect([...Value.Errors(StatusMessageSchema, lastWillStatus("square-1", "1.0.0"))]).toEqual([]);
  });

  it("NGSI-LD: CrowdFlowObserved for pedestrians, TrafficFlowObserved for cyclists and vehicles, stable ids", () => {
    const gate = [{ name: "gate", to: "south" }];
    const e = ngsiLdEntities(interval, 42, device, gate);
    expect(e.map((x) => x.type)).toEqual(["CrowdFlowObserved", "TrafficFlowObserved", "TrafficFlowObserved"]);
    expect(e[0]).toMatchObject({
      id: "urn:ngsi-ld:CrowdFlowObserved:square-1:gate:north-south:pedestrian:2026-11-23T10:00:00.000Z",
      peopleCount: { type: "Property", value: 12 },
      direction: { type: "Property", value: "inbound" },
      dateObserved: { value: "2026-11-23T10:00:00.000Z/2026-11-23T10:15:00.000Z" },
      dateObservedFrom: { value: "2026-11-23T10:00:00.000Z" },
      dateObservedTo: { value: "2026-11-23T10:15:00.000Z" },
      location: { type: "GeoProperty", value: { type: "Point", coordinates: [12.57, 55.68] } },
    });
    expect(e[2]).toMatchObject({
      intensity: { value: 7 },
      vehicleType: { value: "car" },
      laneDirection: { value: "backward" },
    });
    expect(ngsiLdEntities(interval, 43, device, gate).map((x) => x.id)).toEqual(e.map((x) => x.id));
  });

  it("OS2iot mode: one topic per device and a decoder that flattens counts", () => {
    const { config } = deviceConfig("square-1", "mqtts://os2iot.example:8885", {
      mqtt: { url: "mqtts://os2iot.example:8885", os2iot: { organizationId: "7", applicationId: "12" } },
    });
    expect(topicFor(config, "counts")).toBe("devices/7/12/square-1");
    expect(topicFor(config, "status")).toBe("devices/7/12/square-1");
    const { payload } = countsRenderer(config)(interval, 42);
    const decoderSource = readFileSync(join(REPO_ROOT, "docs/os2iot-decoder.js"), "utf8");
    const decoded = runInNewContext(`${decoderSource}\ndecode(payload, { name: "Square" })`, {
      payload: JSON.parse(payload),
    });
    expect(decoded).toMatchObject({
      type: "counts",
      deviceId: "square-1",
      "gate:north>south:pedestrian": 12,
      "gate:south>north:car": 7,
      "square:pedestrian:staying": 1,
      coverageSec: 897.5,
      coverage: 0.997,
      blindSec: 2,
      "scene:darkSec": 2,
      "scene:movedSec": 0,
      deviceName: "Square",
    });
    const status = runInNewContext(`${decoderSource}\ndecode(payload, {})`, {
      payload: lastWillStatus("square-1", "1"),
    });
    expect(status).toMatchObject({ type: "status", online: false });
    const blind = runInNewContext(`${decoderSource}\ndecode(payload, {})`, {
      payload: {
        ...lastWillStatus("square-1", "1"),
        online: true,
        scene: { states: ["dark", "frozen"], since: "2026-11-23T10:01:00.000Z", learning: false },
      },
    });
    expect(blind).toMatchObject({ type: "status", online: true, scene: "dark,frozen" });
  });

  it("ngsi-ld format wraps the entities with id and seq", () => {
    const { config } = deviceConfig("square-1", "mqtt://127.0.0.1:1883", {
      mqtt: { url: "mqtt://127.0.0.1:1883", format: "ngsi-ld" },
    });
    const msg = JSON.parse(countsRenderer(config)(interval, 9).payload);
    expect(msg).toMatchObject({ type: "counts", seq: 9, id: "square-1:2026-11-23T10:00:00.000Z" });
    expect(msg.entities).toHaveLength(3);
  });
});
