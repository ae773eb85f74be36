import { createHash } from "node:crypto";
import {
  closeSync,
  copyFileSync,
  fchmodSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { ConfigError, parseConfig, readConfigDocument } from "./load.ts";
import type { Config } from "./schema.ts";

/** New lines and zones for a device, as sent by a set-up page (validated here, not trusted). */
export interface GeometryEdit {
  readonly lines: unknown;
  readonly zones: unknown;
  /** `counting.anchor`, when the page changes it too. */
  readonly anchor?: unknown;
}

/** Two writers saved from the same version: the second is refused rather than losing the first. */
export class GeometryConflict extends Error {
  override readonly name = "GeometryConflict";
}

/** A short fingerprint of the device file as it is now: a save names the version it edited. */
export function geometryRevision(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex").slice(0, 16);
}

/**
 * Replaces `lines` and `zones` (and `counting.anchor` if given) in a device's YAML file. The whole resulting configuration is
 * validated first (every problem with its path, nothing written on a problem); the file keeps its
 * other keys, their order and comments; it is written to a temporary file, synced and renamed over
 * the old one, whose previous version is kept as `<file>.previous`. With `expectedRevision`, a file
 * changed since that version (another save, an edit by hand) throws `GeometryConflict`.
 */
export function saveGeometry(
  path: string,
  edit: GeometryEdit,
  env: NodeJS.ProcessEnv = process.env,
  expectedRevision?: string,
): Config {
  if (expectedRevision !== undefined && geometryRevision(path) !== expectedRevision)
    throw new GeometryConflict(
      "the configuration changed since it was read (another save, or an edit of the file): reload and apply the edit again",
    );
  const doc = readConfigDocument(path);
  doc.set("lines", doc.createNode(edit.lines, { flow: false }));
  doc.set("zones", doc.createNode(edit.zones, { flow: false }));
  if (edit.anchor !== undefined) doc.setIn(["counting", "anchor"], edit.anchor);
  const config = parseConfig(doc.toJS(), path, env);
  const temporary = `${path}.saving-${process.pid}`;
  try {
    const mode = statSync(path).mode & 0o777;
    const fd = openSync(temporary, "w", mode);
    try {
      // the file keeps its permissions exactly (open's mode passes through the umask)
      fchmodSync(fd, mode);
      writeSync(fd, doc.toString());
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    copyFileSync(path, `${path}.previous`);
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(path, [
      code === "EACCES" || code === "EROFS" || code === "EPERM"
        ? `cannot write the configuration (${code}): it is read-only for this process (a read-only mount, or owned by another user); nothing was changed`
        : `cannot write the configuration: ${(err as Error).message}; nothing was changed`,
    ]);
  }
  return config;
}
