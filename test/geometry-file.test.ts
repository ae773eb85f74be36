import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GeometryConflict, geometryRevision } from "../edge/config/edit.ts";
import { GeometryFile } from "../edge/config/geometry-file.ts";
import { ConfigError } from "../edge/config/load.ts";

const DEVICE = `device: { id: pole-9, location: { latitude: 56.15, longitude: 10.2 } }
camera: { source: clip.mp4 } # the test clip
lines: []
`;

function deviceFile(): string {
  const path = join(mkdtempSync(join(tmpdir(), "geometry-file-")), "device.yaml");
  writeFileSync(path, DEVICE);
  return path;
}

const gate = {
  name: "gate",
  points: [
    [0.5, 0],
    [0.5, 1],
  ],
  from: "west",
  to: "east",
};

describe("the device file as set-up saves into it", () => {
  it("answers the revision of the text it wrote, the one the file has when read again", () => {
    const path = deviceFile();
    const file = new GeometryFile(path, {});
    const before = file.revision();
    expect(before).toBe(geometryRevision(path));
    const saved = file.save({ lines: [gate], zones: [], anchor: "center" }, before ?? undefined);
    expect(saved.lines.map((l) => l.name)).toEqual(["gate"]);
    expect(saved.zones).toEqual([]);
    expect(saved.anchor).toBe("center");
    expect(saved.revision).not.toBe(before);
    expect(saved.revision).toBe(geometryRevision(path));
    expect(file.revision()).toBe(saved.revision);
    expect(readFileSync(path, "utf8")).toContain("# the test clip");
  });

  it("refuses a save that names an older revision, and writes nothing", () => {
    const path = deviceFile();
    const file = new GeometryFile(path, {});
    const old = file.revision() ?? "";
    file.save({ lines: [gate], zones: [] }, old);
    const text = readFileSync(path, "utf8");
    expect(() => file.save({ lines: [], zones: [] }, old)).toThrow(GeometryConflict);
    expect(readFileSync(path, "utf8")).toBe(text);
  });

  it("without a file: no revision, and a save is a configuration problem naming why", () => {
    const file = new GeometryFile(undefined, {});
    expect(file.revision()).toBeNull();
    expect(file.removeAbandonedSaves()).toEqual([]);
    expect(() => file.save({ lines: [], zones: [] })).toThrow(ConfigError);
    expect(() => file.save({ lines: [], zones: [] })).toThrow(/without a configuration file/);
  });

  it("a file that cannot be read has no revision (nothing can be saved against it)", () => {
    const path = deviceFile();
    rmSync(path);
    expect(new GeometryFile(path, {}).revision()).toBeNull();
  });

  it("removes the temporary files of saves whose process is gone", () => {
    const path = deviceFile();
    writeFileSync(`${path}.saving-99999998`, "half a file");
    expect(new GeometryFile(path, {}).removeAbandonedSaves()).toEqual(["device.yaml.saving-99999998"]);
  });
});
