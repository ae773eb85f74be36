import { describe, expect, it } from "vitest";
import { percentile, ZoneCounter } from "../edge/count/zone-counter.ts";
import type { RoadUser, ZoneEvent } from "../edge/domain/types.ts";

// A square zone from (100, 100) to (300, 300); threshold: 5 s inside means staying.
const zone = {
  name: "square",
  polygon: [
    { x: 100, y: 100 },
    { x: 300, y: 100 },
    { x: 300, y: 300 },
    { x: 100, y: 300 },
  ],
  dwellThresholdSec: 5,
};

const at = (id: number, x: number, y: number, o: Partial<RoadUser> = {}): RoadUser => ({
  trackId: id,
  box: { x1: x - 10, y1: y - 50, x2: x + 10, y2: y },
  mode: "pedestrian",
  confirmed: true,
  seen: true,
  ...o,
});

/** One frame per second. */
function run(
  frames: RoadUser[][],
  removedAt: Record<number, number[]> = {},
): { events: ZoneEvent[]; counter: ZoneCounter } {
  const counter = new ZoneCounter(zone);
  const events: ZoneEvent[] = [];
  for (const [i, users] of frames.entries())
    events.push(...counter.update(users, i * 1000, removedAt[i] ?? []));
  return { events, counter };
}

const summary = (events: ZoneEvent[]) =>
  events.map((e) =>
    e.kind === "enter"
      ? `enter:${e.mode}@${e.tsMs / 1000}`
      : `exit:${e.mode}:${e.dwellSec}s:${e.staying ? "stay" : "pass"}`,
  );

describe("zones", () => {
  it("passing through: enters, leaves after 3 s, passing", () => {
    const xs = [50, 70, 120, 160, 200, 240, 320, 340, 360];
    const { events } = run(xs.map((x) => [at(1, x, 200)]));
    // inertia of 2 frames: inside from x=120 (t=2) confirmed at t=3, entry time 3 s; out at t=7
    expect(summary(events)).toEqual(["enter:pedestrian@3", "exit:pedestrian:4s:pass"]);
  });

  it("staying: a visitor inside for longer than the threshold", () => {
    const frames = [
      [at(1, 50, 200)],
      ...Array.from({ length: 10 }, () => [at(1, 200, 200)]),
      [at(1, 350, 200)],
      [at(1, 360, 200)],
    ];
    const { events } = run(frames);
    expect(summary(events)).toEqual(["enter:pedestrian@2", "exit:pedestrian:10s:stay"]);
  });

  it("jitter across the boundary does not make extra entries", () => {
    const xs = [50, 110, 95, 110, 95, 120, 95, 130, 150, 170, 190];
    const { events } = run(xs.map((x) => [at(1, x, 200)]));
    expect(events.filter((e) => e.kind === "enter")).toHaveLength(1);
  });

  it("occupancy counts confirmed visitors inside, per mode", () => {
    const counter = new ZoneCounter(zone);
    const frame = [
      at(1, 150, 200),
      at(2, 250, 250, { mode: "cyclist" }),
      at(3, 50, 50),
      at(4, 200, 200, { confirmed: false }),
    ];
    counter.update(frame, 0);
    counter.update(frame, 1000);
    expect(Object.fromEntries(counter.occupancy())).toEqual({ pedestrian: 1, cyclist: 1 });
  });

  it("a track that ends inside leaves when it was last seen, once nobody took it over", () => {
    const frames = [
      [at(1, 200, 200)],
      [at(1, 200, 200)],
      [at(1, 200, 200)],
      [at(1, 200, 200, { seen: false })],
      [],
      [],
      [],
      [],
    ];
    const { events, counter } = run(frames, { 5: [1] });
    expect(summary(events)).toEqual(["enter:pedestrian@1", "exit:pedestrian:1s:pass"]);
    // the exit carries the time it was last seen, although it is known only when the offer expires
    expect(events[1]?.tsMs).toBe(2000);
    expect(counter.size).toBe(0);
  });

  it("a visitor whose track ended is taken over by a successor born at the spot: one entry, one exit", () => {
    const frames = [
      [at(1, 200, 200)],
      [at(1, 200, 200)],
      [at(1, 200, 200)],
      [at(1, 200, 200, { seen: false })],
      [],
      [at(2, 205, 200)],
      [at(2, 205, 200)],
      [at(2, 400, 200)],
      [at(2, 400, 200)],
    ];
    const { events } = run(frames, { 5: [1] });
    expect(summary(events)).toEqual(["enter:pedestrian@1", "exit:pedestrian:7s:stay"]);
  });

  it("an ID switch inside is the same visitor: no second entry, dwell kept", () => {
    const frames = [
      [at(1, 200, 200)],
      [at(1, 200, 200)],
      [at(1, 200, 200)],
      [at(1, 200, 200, { seen: false }), at(2, 205, 200)],
      ...Array.from({ length: 6 }, () => [at(2, 205, 200)]),
      [at(2, 400, 200)],
      [at(2, 400, 200)],
    ];
    const { events } = run(frames);
    expect(summary(events)).toEqual(["enter:pedestrian@1", "exit:pedestrian:10s:stay"]);
  });

  it("frees state of ended tracks", () => {
    const counter = new ZoneCounter(zone);
    for (let i = 1; i < 100; i++) counter.update([at(i, 200, 200)], i * 1000, [i - 1]);
    expect(counter.size).toBeLessThanOrEqual(2);
  });

  it("dwell percentiles (nearest rank)", () => {
    const samples = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(samples, 50)).toBe(5);
    expect(percentile(samples, 90)).toBe(9);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
  });
});
