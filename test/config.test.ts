import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  configWarnings,
  formatPath,
  loadConfigFile,
  parseConfig,
  redactConfig,
} from "../edge/config/load.ts";
import { withReference } from "../edge/config/reference.ts";
import { ConfigSchema } from "../edge/config/schema.ts";
import { REPO_ROOT } from "./helpers/assets.ts";

const minimal = {
  device: { id: "dev-1", location: { latitude: 55.1, longitude: 12.2 } },
  camera: { source: "rtsp://127.0.0.1/stream" },
};

/** `counter config check` on a file written with `yaml`, as a child process. */
function configCheck(yaml: string, env: NodeJS.ProcessEnv = process.env) {
  const file = join(mkdtempSync(join(tmpdir(), "cfg-")), "device.yaml");
  writeFileSync(file, yaml);
  return checkFile(file, env);
}

function checkFile(file: string, env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [join(REPO_ROOT, "bin/counter.js"), "config", "check", file], {
    encoding: "utf8",
    env,
  });
}

function problemsOf(raw: unknown, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    parseConfig(raw, "test.yaml", env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("config", () => {
  it("fills defaults for everything not given", () => {
    const c = parseConfig(minimal, "t", {});
    expect(c.model.id).toBe("yolox-nano");
    expect(c.model.classes).toEqual(["person", "bicycle", "car", "motorcycle", "bus", "truck"]);
    expect(c.camera.fps).toBe(10);
    expect(c.mqtt.protocolVersion).toBe(4);
    expect(c.mqtt.tls.rejectUnauthorized).toBe(true);
    expect(c.api.host).toBe("127.0.0.1");
    expect(c.lines).toEqual([]);
  });

  it.each([
    [
      {
        ...minimal,
        lines: [
          {
            name: "a",
            points: [
              [0.1, 0.1],
              [0.9, 0.9],
            ],
          },
          { name: "b", points: [[0.5, 0.5]] },
        ],
      },
      "lines[1].points: expected at least 2 points, got 1",
    ],
    [{ ...minimal, camera: { source: "x", fsp: 5 } }, "camera.fsp: unknown key"],
    [
      { ...minimal, model: { graphOptimization: "fast" } },
      'model.graphOptimization: expected one of "disabled", "basic", "extended", "all", got "fast"',
    ],
    [
      {
        ...minimal,
        zones: [
          {
            name: "z",
            polygon: [
              [0, 0],
              [1, 2],
              [0, 1],
            ],
          },
        ],
      },
      "zones[0].polygon[1][1]: expected number to be less or equal to 1, got 2",
    ],
    [{ device: minimal.device }, "camera: required"],
    [
      {
        ...minimal,
        lines: [
          {
            name: "a",
            points: [
              [0, 0],
              [1, 1],
            ],
            from: "X",
            to: "X",
          },
        ],
      },
      'lines[0].to: must differ from lines[0].from ("X")',
    ],
    [
      {
        ...minimal,
        lines: [
          {
            name: "a",
            points: [
              [0, 0],
              [1, 1],
            ],
          },
          {
            name: "a",
            points: [
              [0, 1],
              [1, 0],
            ],
          },
        ],
      },
      'lines[1].name: "a" is already used by lines[0]',
    ],
    [{ ...minimal, api: { host: "0.0.0.0" } }, "api.token: required when api.host is 0.0.0.0 (not loopback)"],
    [
      {
        ...minimal,
        zones: [
          {
            name: "flat",
            polygon: [
              [0, 0],
              [0.5, 0.5],
              [1, 1],
            ],
          },
        ],
      },
      "zones[0].polygon: has no area",
    ],
  ])("reports %j as a problem with its path", (raw, expected) => {
    expect(problemsOf(raw)).toContain(expected);
  });

  it("reports every problem at once, not just the first", () => {
    const problems = problemsOf({ ...minimal, camera: { source: "", fps: -1 }, model: { iou: 7 } });
    expect(problems.length).toBeGreaterThanOrEqual(3);
    expect(problems.some((p) => p.startsWith("camera.source"))).toBe(true);
    expect(problems.some((p) => p.startsWith("camera.fps"))).toBe(true);
    expect(problems.some((p) => p.startsWith("model.iou"))).toBe(true);
  });

  it("reads secrets from the environment and redacts them", () => {
    const raw = { ...minimal, mqtt: { username: "u", password: "${MQTT_PW}" } };
    expect(problemsOf(raw, {})).toEqual(["mqtt.password: environment variable MQTT_PW is not set"]);
    const c = parseConfig(raw, "t", { MQTT_PW: "s3cret" });
    expect(c.mqtt.password).toBe("s3cret");
    expect(JSON.stringify(redactConfig(c))).not.toContain("s3cret");
  });

  it("formats JSON pointers as field paths", () => {
    expect(formatPath("/lines/1/points")).toBe("lines[1].points");
    expect(formatPath("/zones/0/polygon/2/1")).toBe("zones[0].polygon[2][1]");
  });

  it("loads the shipped example", () => {
    const c = loadConfigFile(join(REPO_ROOT, "examples/device.yaml"), { COUNTER_MQTT_PASSWORD: "pw" });
    expect(c.lines[0]?.from).toBe("north");
  });

  it("reports YAML syntax errors with the line", () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-"));
    const file = join(dir, "broken.yaml");
    writeFileSync(file, "device:\n  id: [unclosed\n");
    expect(() => loadConfigFile(file)).toThrow(/YAML line/);
  });

  it("keeps docs/config.schema.json in step with the schema (npm run schema)", () => {
    const onDisk = JSON.parse(readFileSync(join(REPO_ROOT, "docs/config.schema.json"), "utf8"));
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(ConfigSchema)));
  });

  it("keeps the reference table in docs/configuration.md in step with the schema (npm run schema)", () => {
    const doc = readFileSync(join(REPO_ROOT, "docs/configuration.md"), "utf8");
    expect(withReference(doc, ConfigSchema)).toBe(doc);
    // every key the loader accepts is documented, with the loader's default
    const defaults = parseConfig(
      { device: { id: "d", location: { latitude: 0, longitude: 0 } }, camera: { source: "simulated" } },
      "d.yaml",
      {},
    );
    expect(doc).toContain(`| \`model.confidence\` | number [0.001, 1] | \`${defaults.model.confidence}\` |`);
    expect(doc).toContain(
      `| \`aggregation.periodSec\` | integer [1, 86400] | \`${defaults.aggregation.periodSec}\` |`,
    );
  });

  it("`counter config check` prints the problems and exits non-zero", () => {
    const r = configCheck(
      "device: { id: d1, location: { latitude: 1, longitude: 2 } }\ncamera: { source: x }\nlines:\n  - { name: l, points: [[0, 0]] }\n",
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("lines[0].points: expected at least 2 points, got 1");
    const ok = checkFile(join(REPO_ROOT, "examples/device.yaml"), {
      ...process.env,
      COUNTER_MQTT_PASSWORD: "pw",
    });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain("valid");
    expect(ok.stderr).not.toContain("warning: lines, zones");
  });

  it("privacy: intervals under 60 s need privacy.allowShortIntervals, which is warned about", () => {
    expect(problemsOf({ ...minimal, aggregation: { periodSec: 1 } })).toEqual([
      expect.stringMatching(/^aggregation\.periodSec: at least 60 s, got 1 .*privacy\.allowShortIntervals/),
    ]);
    const c = parseConfig(
      { ...minimal, aggregation: { periodSec: 1 }, privacy: { allowShortIntervals: true } },
      "t.yaml",
      {},
    );
    expect(configWarnings(c).join("\n")).toMatch(/aggregation\.periodSec: 1 s intervals/);
    expect(parseConfig(minimal, "t.yaml", {}).privacy.minDwellVisitors).toBe(5);
  });

  it("camera.region: whole, lines or two corners; a flat rectangle or a wrong word names the field", () => {
    const gate = {
      name: "gate",
      points: [
        [0, 0.5],
        [1, 0.5],
      ],
      from: "a",
      to: "b",
    };
    const region = (r: unknown) => ({ ...minimal, camera: { source: "x", region: r }, lines: [gate] });
    expect(parseConfig(minimal, "t.yaml", {}).camera.region).toBe("lines");
    expect(parseConfig(region([0.6, 0, 1, 0.5]), "t.yaml", {}).camera.region).toEqual([0.6, 0, 1, 0.5]);
    expect(problemsOf(region([0.5, 0, 0.52, 0.5]))).toEqual([
      expect.stringMatching(/^camera\.region: .*at least 0\.05 of the frame wide and high/),
    ]);
    expect(problemsOf(region("lanes"))[0]).toMatch(/^camera\.region/);
    // the configured line runs from x 0 to 1: a region of the right half leaves part of it unseen
    expect(configWarnings(parseConfig(region([0.5, 0, 1, 1]), "t.yaml", {}))).toContainEqual(
      expect.stringMatching(/^lines\[0\]: .* is not inside camera\.region/),
    );
    expect(configWarnings(parseConfig(region("lines"), "t.yaml", {})).join()).not.toMatch(/camera\.region/);
    expect(problemsOf(region([0, 0, 1.5, 1]))[0]).toMatch(/^camera\.region/);
  });

  it("`counter config check` warns when nothing would be counted", () => {
    const r = configCheck(
      "device: { id: d1, location: { latitude: 1, longitude: 2 } }\ncamera: { source: x }\n",
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("warning: lines, zones: none configured, so nothing is counted");
    expect(r.stdout).not.toContain("detection region");
  });

  it("`counter config check` says where the detector will look", () => {
    const r = configCheck(
      [
        "device: { id: d1, location: { latitude: 1, longitude: 2 } }",
        "camera: { source: x, region: lines, regionMargin: 0.1 }",
        "lines: [{ name: gate, points: [[0.5, 0.1], [0.9, 0.4]], from: a, to: b }]",
        "",
      ].join("\n"),
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("detection region: x 0.40–1.00, y 0.00–0.50 of the view (around the lines");
  });
});
