import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { saveGeometry } from "../edge/config/edit.ts";
import { ConfigError, loadConfigFile } from "../edge/config/load.ts";

const DEVICE = `# Square by the library, pole 4
device:
  id: square-4 # the id dashboards know
  location: { latitude: 56.15, longitude: 10.2 }
camera:
  source: rtsp://\${CAM_USER}:\${CAM_PASS}@10.0.0.9/stream1
# counting lines, drawn on site
lines:
  - name: gate
    points: [[0.5, 1], [0.5, 0]]
    from: west
    to: east
mqtt:
  url: mqtt://broker.example:1883 # city broker
`;
const env = { CAM_USER: "admin", CAM_PASS: "secret" };

function deviceFile(): string {
  const path = join(mkdtempSync(join(tmpdir(), "edit-")), "device.yaml");
  writeFileSync(path, DEVICE);
  return path;
}

describe("saving lines and zones into the device file", () => {
  it("keeps the file's permissions exactly, whatever the process's umask (a group-writable file stays so)", () => {
    const path = deviceFile();
    chmodSync(path, 0o660);
    saveGeometry(path, { lines: [], zones: [] }, env);
    expect(statSync(path).mode & 0o777).toBe(0o660);
    chmodSync(path, 0o600);
    saveGeometry(path, { lines: [], zones: [] }, env);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("replaces lines and zones, keeps every other key, its order and comments, and the previous file", () => {
    const path = deviceFile();
    const config = saveGeometry(
      path,
      {
        lines: [
          {
            name: "path",
            points: [
              [0.1, 0.6],
              [0.9, 0.6],
            ],
            from: "north",
            to: "south",
          },
        ],
        zones: [
          {
            name: "benches",
            polygon: [
              [0.1, 0.1],
              [0.4, 0.1],
              [0.4, 0.4],
            ],
          },
        ],
      },
      env,
    );
    expect(config.lines.map((l) => l.name)).toEqual(["path"]);
    expect(config.zones[0]?.dwellThresholdSec).toBe(30); // schema default filled in
    const text = readFileSync(path, "utf8");
    for (const kept of [
      "# Square by the library, pole 4",
      "# the id dashboards know",
      "# city broker",
      "${CAM_PASS}",
    ])
      expect(text).toContain(kept);
    expect(text).not.toContain("secret"); // the environment's value is not written into the file
    expect(text.indexOf("device:")).toBeLessThan(text.indexOf("camera:"));
    expect(text.indexOf("lines:")).toBeLessThan(text.indexOf("mqtt:"));
    expect(readFileSync(`${path}.previous`, "utf8")).toBe(DEVICE);
    expect(loadConfigFile(path, env).lines[0]?.points).toEqual([
      [0.1, 0.6],
      [0.9, 0.6],
    ]);
  });

  it("an invalid edit names each problem's path and changes nothing", () => {
    const path = deviceFile();
    const err = (() => {
      try {
        saveGeometry(path, { lines: [{ name: "bad", points: [[0.5, 1.5]] }], zones: "none" }, env);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join("\n");
    expect(problems).toMatch(/lines\[0\]\.points/);
    expect(problems).toMatch(/^zones: /m);
    expect(readFileSync(path, "utf8")).toBe(DEVICE);
  });
});
