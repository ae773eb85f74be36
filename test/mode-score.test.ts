import { describe, expect, it } from "vitest";
import type { CountKey } from "../edge/domain/crossing-totals.ts";
import { scoreModes } from "../edge/eval/mode-score.ts";

const m = (entries: Record<string, number>) => new Map(Object.entries(entries)) as Map<CountKey, number>;

describe("scores per mode, class errors told apart from counting errors", () => {
  it.each<{
    name: string;
    counted: Record<string, number>;
    truth: Record<string, number>;
    counting: number;
    klass: number;
    car: number;
    vehicles: number;
  }>([
    {
      name: "exact",
      counted: { "a:n>s:car": 2, "a:s>n:cyclist": 1 },
      truth: { "a:n>s:car": 2, "a:s>n:cyclist": 1 },
      counting: 0,
      klass: 0,
      car: 1,
      vehicles: 1,
    },
    {
      name: "a lorry counted as a car: one class error, vehicles right",
      counted: { "a:n>s:car": 3 },
      truth: { "a:n>s:car": 2, "a:n>s:truck": 1 },
      counting: 0,
      klass: 1,
      car: 0.5,
      vehicles: 1,
    },
    {
      name: "a car missed and a car invented on the other line: two counting errors",
      counted: { "a:n>s:car": 1, "b:n>s:car": 1 },
      truth: { "a:n>s:car": 2 },
      counting: 2,
      klass: 0,
      car: 0,
      vehicles: 0,
    },
    {
      name: "a cyclist as motorcyclist and a car missed",
      counted: { "a:n>s:motorcyclist": 1, "a:n>s:car": 1 },
      truth: { "a:n>s:cyclist": 1, "a:n>s:car": 2 },
      counting: 1,
      klass: 1,
      car: 0.5,
      vehicles: 0.5,
    },
  ])("$name", ({ counted, truth, counting, klass, car, vehicles }) => {
    const s = scoreModes(m(counted), m(truth));
    expect(s.countingErrors).toBe(counting);
    expect(s.classErrors).toBe(klass);
    expect(s.groups.car?.accuracy).toBeCloseTo(car);
    expect(s.groups["vehicle total"]?.accuracy).toBeCloseTo(vehicles);
  });

  it("a mode with no truth is reported with its count and no accuracy", () => {
    const s = scoreModes(m({ "a:n>s:motorcyclist": 2 }), m({ "a:n>s:cyclist": 2 }));
    expect(s.groups.motorcyclist).toEqual({ counted: 2, truth: 0, accuracy: null });
    expect(s.groups.cyclist).toEqual({ counted: 0, truth: 2, accuracy: 0 });
    expect(s.rows.map((r) => `${r.mode}:${r.counted}/${r.truth}`)).toEqual([
      "cyclist:0/2",
      "motorcyclist:2/0",
    ]);
  });
});
