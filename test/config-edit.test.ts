import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statfsSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { removeAbandonedSaves, saveGeometry } from "../edge/config/edit.ts";
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

  it("a file whose other keys refer (a YAML alias) into the lines it replaces: a clear problem, nothing changed", () => {
    const path = join(mkdtempSync(join(tmpdir(), "alias-")), "device.yaml");
    const text = DEVICE.replace("  - name: gate", "  - name: &gate gate").replace(
      "mqtt:\n",
      "mqtt:\n  baseTopic: *gate\n",
    );
    writeFileSync(path, text);
    expect(loadConfigFile(path, env).mqtt.baseTopic).toBe("gate");
    let err: unknown;
    try {
      saveGeometry(path, { lines: manyLines(1), zones: [] }, env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.join("\n")).toMatch(/cannot take the edit.*YAML alias/);
    expect(readFileSync(path, "utf8")).toBe(text);
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

/** `count` lines, each about 200 bytes of YAML. */
function manyLines(count: number) {
  return Array.from({ length: count }, (_, i) => ({
    name: `gate-${i}`,
    points: [
      [0.123456789, 0.1 + i / (count * 2)],
      [0.523456789, 0.2 + i / (count * 2)],
      [0.923456789, 0.3 + i / (count * 2)],
    ],
    from: "north-west-side",
    to: "south-east-side",
  }));
}

describe("a save that cannot be written whole changes nothing", () => {
  const mounts: string[] = [];
  afterAll(() => {
    for (const m of mounts) execFileSync("umount", [m]);
  });

  /** A real tmpfs with about `freeBytes` left after `device.yaml` is written into it. */
  function nearlyFullDisk(freeBytes: number): string | undefined {
    const dir = mkdtempSync(join(tmpdir(), "tiny-"));
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir], { stdio: "pipe" });
    } catch (err) {
      if (process.env.CI === "true") throw err;
      console.warn(`skipping the full-disk save: mounting a tmpfs needs root (${(err as Error).message})`);
      return undefined;
    }
    mounts.push(dir);
    const path = join(dir, "device.yaml");
    writeFileSync(path, DEVICE);
    // an earlier save: its `.previous` is there to be overwritten, which needs no new space
    saveGeometry(path, { lines: manyLines(1), zones: [] }, env);
    const s = statfsSync(dir);
    writeFileSync(join(dir, "filler"), Buffer.alloc(Math.max(0, s.bavail * s.bsize - freeBytes)));
    return path;
  }

  it("on a nearly full disk: a 9 KB save onto 4 KB free is refused as a full disk, the file and its sections intact", () => {
    const path = nearlyFullDisk(4096);
    if (!path) return;
    const lines = manyLines(50);
    expect(JSON.stringify(lines).length).toBeGreaterThan(7000); // YAML of it: about 9 KB
    let err: unknown;
    try {
      saveGeometry(path, { lines, zones: [] }, env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.join("\n")).toMatch(/disk is full.*nothing was changed/);
    expect(loadConfigFile(path, env).mqtt.url).toBe("mqtt://broker.example:1883");
    expect(loadConfigFile(path, env).lines.map((l) => l.name)).toEqual(["gate-0"]);
    expect(readdirSync(join(path, "..")).sort()).toEqual(["device.yaml", "device.yaml.previous", "filler"]);
  });

  it("a configuration that is itself a mount point (a single-file bind mount, as into a container) is saved in place", () => {
    const host = deviceFile();
    const inside = join(mkdtempSync(join(tmpdir(), "bind-")), "device.yaml");
    writeFileSync(inside, "");
    try {
      execFileSync("mount", ["--bind", host, inside], { stdio: "pipe" });
    } catch (err) {
      if (process.env.CI === "true") throw err;
      console.warn(`skipping the bind-mounted save: mounting needs root (${(err as Error).message})`);
      return;
    }
    mounts.push(inside);
    saveGeometry(inside, { lines: manyLines(3), zones: [] }, env);
    // the mounted file itself has the new lines, and so does the host's side of the mount
    expect(loadConfigFile(inside, env).lines.map((l) => l.name)).toEqual(["gate-0", "gate-1", "gate-2"]);
    expect(loadConfigFile(host, env).lines).toHaveLength(3);
    expect(readFileSync(`${inside}.previous`, "utf8")).toBe(DEVICE);
    expect(readdirSync(join(inside, "..")).sort()).toEqual(["device.yaml", "device.yaml.previous"]);
    // a shorter text leaves no tail of the longer one
    saveGeometry(inside, { lines: manyLines(1), zones: [] }, env);
    expect(loadConfigFile(host, env).lines.map((l) => l.name)).toEqual(["gate-0"]);
  });

  it("a configuration that is a symbolic link stays one; the file it points to is saved", () => {
    const real = deviceFile();
    const linkDir = mkdtempSync(join(tmpdir(), "link-"));
    const link = join(linkDir, "device.yaml");
    symlinkSync(real, link);
    saveGeometry(link, { lines: manyLines(2), zones: [] }, env);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(loadConfigFile(real, env).lines.map((l) => l.name)).toEqual(["gate-0", "gate-1"]);
    expect(readFileSync(`${real}.previous`, "utf8")).toBe(DEVICE);
    expect(existsSync(`${link}.previous`)).toBe(false);
  });

  it("a save killed mid-write leaves a temporary file that the next save (or start) removes; a live saver's is kept", () => {
    const path = deviceFile();
    const dir = join(path, "..");
    // a pid that does not exist now (pid_max is far below it), and this process's parent, which does
    writeFileSync(`${path}.saving-99999999`, "lines:\n  - name: cut");
    writeFileSync(`${path}.saving-${process.ppid}`, "being written");
    saveGeometry(path, { lines: manyLines(1), zones: [] }, env);
    expect(readdirSync(dir).sort()).toEqual([
      "device.yaml",
      "device.yaml.previous",
      `device.yaml.saving-${process.ppid}`,
    ]);
    writeFileSync(`${path}.saving-99999998`, "");
    expect(removeAbandonedSaves(path)).toEqual(["device.yaml.saving-99999998"]);
  });
});
