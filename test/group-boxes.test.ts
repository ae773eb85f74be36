import { describe, expect, it } from "vitest";
import type { Box, Detection } from "../edge/domain/types.ts";
import { EVAL_PIPELINE_OPTIONS } from "../edge/eval/count-eval.ts";
import { Pipeline, type PipelineOptions } from "../edge/pipeline/pipeline.ts";
import { GroupBoxes } from "../edge/track/group-boxes.ts";

const det = (label: string, score: number, x1: number, y1: number, x2: number, y2: number): Detection => ({
  classId: 0,
  label,
  score,
  box: { x1, y1, x2, y2 },
});
const grouped = (dets: Detection[]) => Array.from(new GroupBoxes().mark(dets).subarray(0, dets.length));

describe("several road users boxed as one", () => {
  it("a bus around two cars of a platoon (one behind the other, seen from above) is a group box; the cars are not", () => {
    const front = det("car", 0.85, 400, 500, 560, 640);
    const behind = det("car", 0.7, 410, 380, 550, 500);
    const merged = det("bus", 0.5, 398, 378, 562, 642);
    expect(grouped([front, behind, merged])).toEqual([0, 0, 1]);
  });

  it("a box around two walkers side by side is a group box", () => {
    expect(
      grouped([
        det("person", 0.8, 100, 100, 160, 300),
        det("person", 0.75, 150, 105, 215, 302),
        det("person", 0.4, 98, 98, 216, 305),
      ]),
    ).toEqual([0, 0, 1]);
  });

  it("a bus with two cars passing in front of it stays: it reaches far above them", () => {
    const bus = det("bus", 0.6, 100, 100, 700, 400);
    expect(grouped([bus, det("car", 0.9, 110, 260, 350, 400), det("car", 0.9, 420, 255, 690, 400)])).toEqual([
      0, 0, 0,
    ]);
  });

  it("a whole lorry seen also in parts, each less sure than the whole, stays one lorry", () => {
    // YOLOX-Nano on tally-junction-cars-truck, frame 28: the lorry at 0.45, its cab and trailer at 0.35 and 0.23
    const lorry = det("truck", 0.45, 166, 61, 339, 179);
    expect(
      grouped([lorry, det("truck", 0.35, 256, 82, 340, 178), det("truck", 0.23, 168, 80, 263, 175)]),
    ).toEqual([0, 0, 0]);
  });

  it("one road user inside another's box (a child carried) is no group", () => {
    expect(grouped([det("person", 0.8, 100, 100, 200, 400), det("person", 0.9, 120, 150, 180, 260)])).toEqual(
      [0, 0],
    );
  });

  it("a bus around a group of motorbikes and their riders is a group box; a bus with passengers at its windows and people in front stays", () => {
    const bikes = [
      det("motorcycle", 0.4, 300, 300, 360, 400),
      det("person", 0.7, 305, 230, 355, 360),
      det("motorcycle", 0.45, 380, 290, 440, 395),
      det("person", 0.8, 385, 225, 435, 350),
    ];
    expect(grouped([...bikes, det("bus", 0.6, 298, 222, 442, 402)])).toEqual([0, 0, 0, 0, 1]);
    const bus = det("bus", 0.8, 100, 100, 700, 400);
    const passengers = [det("person", 0.5, 150, 140, 190, 230), det("person", 0.5, 600, 140, 640, 230)];
    const waiting = [det("person", 0.9, 120, 230, 180, 405), det("person", 0.9, 620, 235, 680, 402)];
    expect(grouped([bus, ...passengers, ...waiting])).toEqual([0, 0, 0, 0, 0]);
  });

  it("real single road users with others inside their box stay (scenes found by trying to break the rule)", () => {
    const kept = (dets: Detection[]) => expect(grouped(dets)[0]).toBe(0);
    // a car transporter: the cars it carries are surer than the lorry, and fill and span it
    kept([
      det("truck", 0.6, 0, 0, 800, 300),
      det("car", 0.8, 20, 20, 390, 140),
      det("car", 0.8, 410, 20, 780, 140),
      det("car", 0.8, 20, 150, 390, 270),
      det("car", 0.8, 410, 150, 780, 270),
    ]);
    kept([
      det("truck", 0.5, 100, 50, 360, 350),
      det("car", 0.7, 110, 60, 350, 190),
      det("car", 0.7, 110, 200, 350, 340),
    ]);
    // a bus seen from the front: its driver behind the windscreen, four people crossing in front of it
    kept([
      det("bus", 0.7, 0, 0, 250, 300),
      det("person", 0.5, 100, 60, 150, 130),
      det("person", 0.9, 5, 130, 70, 300),
      det("person", 0.9, 55, 128, 120, 298),
      det("person", 0.9, 115, 132, 180, 300),
      det("person", 0.9, 175, 130, 245, 299),
    ]);
    // a lorry's front: two people in the cab, three crossing in front of it
    kept([
      det("truck", 0.6, 0, 0, 250, 360),
      det("person", 0.6, 30, 60, 100, 150),
      det("person", 0.6, 150, 60, 220, 150),
      det("person", 0.9, 5, 170, 90, 358),
      det("person", 0.9, 80, 168, 170, 356),
      det("person", 0.9, 160, 172, 248, 359),
    ]);
    // a bus at a stop, side on: sixteen people queueing along it, two at its windows
    const queue = Array.from({ length: 16 }, (_, i) => det("person", 0.8, 20 + i * 35, 65, 65 + i * 35, 150));
    kept([
      det("bus", 0.8, 0, 0, 600, 150),
      ...queue,
      det("person", 0.5, 60, 10, 90, 50),
      det("person", 0.5, 500, 10, 530, 50),
    ]);
    // an articulated lorry whose cab is also boxed as a lorry, a car alongside
    kept([
      det("truck", 0.45, 0, 0, 600, 200),
      det("truck", 0.6, 420, 10, 600, 200),
      det("car", 0.8, 30, 90, 330, 195),
    ]);
    // a parent carrying two children, one on the shoulders, one on the hip
    kept([
      det("person", 0.7, 100, 0, 200, 300),
      det("person", 0.8, 105, 0, 190, 120),
      det("person", 0.8, 110, 100, 190, 230),
    ]);
  });

  it("reuses its flags: a smaller frame after a larger one reads only its own detections", () => {
    const boxes = new GroupBoxes();
    const many = Array.from({ length: 100 }, (_, i) => det("person", 0.9, i * 30, 0, i * 30 + 20, 60));
    boxes.mark(many);
    const platoon = [
      det("car", 0.85, 400, 500, 560, 640),
      det("car", 0.7, 410, 380, 550, 500),
      det("bus", 0.5, 398, 378, 562, 642),
    ];
    expect(Array.from(boxes.mark(platoon).subarray(0, 3))).toEqual([0, 0, 1]);
  });
});

describe("a platoon counted through the pipeline", () => {
  const options: PipelineOptions = {
    ...EVAL_PIPELINE_OPTIONS,
    aggregation: { ...EVAL_PIPELINE_OPTIONS.aggregation, periodSec: 60 },
  };
  const scene = { width: 1280, height: 720 };
  const geometry = {
    lines: [
      {
        name: "road",
        points: [
          [1, 0.5],
          [0, 0.5],
        ] as [number, number][],
        from: "near",
        to: "far",
      },
    ],
    zones: [],
  };

  it("two cars driving away nose to tail, boxed also as one bus in every frame, count as two cars and no bus", () => {
    const pipeline = new Pipeline(options, geometry);
    for (let f = 0; f < 60; f++) {
      // driving up the picture (away from the camera), 8 px a frame at 10 fps, 130 px apart
      const y = 620 - 8 * f;
      const front: Box = { x1: 560, y1: y - 110, x2: 720, y2: y };
      const behind: Box = { x1: 570, y1: y - 240, x2: 710, y2: y - 130 };
      pipeline.step({ tsMs: f * 100, ...scene }, [
        det("car", 0.85, front.x1, front.y1, front.x2, front.y2),
        det("car", 0.75, behind.x1, behind.y1, behind.x2, behind.y2),
        det("bus", 0.55, 558, y - 242, 722, y + 2),
      ]);
    }
    const [interval] = pipeline.close(60_000);
    const byMode = Object.fromEntries(
      (interval?.lines ?? []).filter((l) => l.count > 0).map((l) => [`${l.mode} ${l.from}>${l.to}`, l.count]),
    );
    expect(byMode).toEqual({ "car near>far": 2 });
  });
});
