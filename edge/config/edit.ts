import { createHash } from "node:crypto";
import {
  closeSync,
  copyFileSync,
  fchmodSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
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
  return revisionOf(readFileSync(path));
}

function revisionOf(text: Buffer | string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/**
 * Replaces `lines` and `zones` (and `counting.anchor` if given) in a device's YAML file. The whole resulting configuration is
 * validated first (every problem with its path, nothing written on a problem); the file keeps its
 * other keys, their order and comments. A file that is a symbolic link is edited where the link
 * points (the link stays). The new text is written to a temporary file beside it, every byte
 * checked, synced, and renamed over the old one, whose previous version is kept as
 * `<file>.previous`; a full disk or any other failure changes nothing. With `expectedRevision`, a
 * file changed since that version (another save, an edit by hand) throws `GeometryConflict`.
 */
export function saveGeometry(
  path: string,
  edit: GeometryEdit,
  env: NodeJS.ProcessEnv = process.env,
  expectedRevision?: string,
): Config {
  return writeGeometry(path, edit, env, expectedRevision).config;
}

/** `saveGeometry`, also answering the revision of the text it wrote (the file is not read again for it). */
export function writeGeometry(
  path: string,
  edit: GeometryEdit,
  env: NodeJS.ProcessEnv,
  expectedRevision: string | undefined,
): { readonly config: Config; readonly revision: string } {
  if (expectedRevision !== undefined && geometryRevision(path) !== expectedRevision)
    throw new GeometryConflict(
      "the configuration changed since it was read (another save, or an edit of the file): reload and apply the edit again",
    );
  const tooDeep = (["lines", "zones", "anchor"] as const).filter((k) =>
    nestedDeeperThan(edit[k], MAX_EDIT_DEPTH),
  );
  if (tooDeep.length > 0)
    throw new ConfigError(
      path,
      tooDeep.map(
        (k) => `${k === "anchor" ? "counting.anchor" : k}: nested deeper than ${MAX_EDIT_DEPTH} levels`,
      ),
    );
  const doc = readConfigDocument(path);
  let raw: unknown;
  try {
    doc.set("lines", doc.createNode(edit.lines, { flow: false }));
    doc.set("zones", doc.createNode(edit.zones, { flow: false }));
    if (edit.anchor !== undefined) doc.setIn(["counting", "anchor"], edit.anchor);
    raw = doc.toJS();
  } catch (err) {
    // e.g. another key refers (a YAML alias) to an anchor inside the lines being replaced
    throw new ConfigError(path, [
      `the file cannot take the edit: ${(err as Error).message.split("\n")[0]}; edit it by hand (a YAML alias elsewhere may point into lines or zones)`,
    ]);
  }
  const config = parseConfig(raw, path, env);
  const text = doc.toString();
  try {
    replaceFileContents(realpathSync(path), text);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(path, [
      code === "EACCES" || code === "EROFS" || code === "EPERM"
        ? `cannot write the configuration (${code}): it is read-only for this process (a read-only mount, or owned by another user); nothing was changed`
        : code === "ENOSPC" || code === "EDQUOT"
          ? `cannot write the configuration (${code}): the disk is full; nothing was changed`
          : `cannot write the configuration: ${(err as Error).message}; nothing was changed`,
    ]);
  }
  return { config, revision: revisionOf(text) };
}

/** Lines nest four levels (list, line, points, point); anything far deeper is not a geometry. */
const MAX_EDIT_DEPTH = 8;

/** Whether `value` nests arrays or objects more than `max` levels deep (walked without recursion). */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== "object") continue;
    if (depth >= max) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/** `<file>.saving-<pid>`: where a save writes before the rename. */
const SAVING_INFIX = ".saving-";

/**
 * Writes `text` as the new contents of `file` (a real path, not a link) so that the file is either
 * the old version or the new one, never a cut: a temporary file, all of whose bytes are written and
 * synced, renamed over it. The old version becomes `<file>.previous` by a hard link (which needs no
 * free space; a copy where links are not supported).
 */
function replaceFileContents(file: string, text: string): void {
  removeAbandonedSaves(file);
  const temporary = `${file}${SAVING_INFIX}${process.pid}`;
  const bytes = Buffer.from(text, "utf8");
  try {
    const mode = statSync(file).mode & 0o777;
    const fd = openSync(temporary, "w", mode);
    try {
      // the file keeps its permissions exactly (open's mode passes through the umask)
      fchmodSync(fd, mode);
      writeAll(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (statSync(temporary).size !== bytes.length)
      throw Object.assign(new Error("the written file is shorter than its text"), { code: "ENOSPC" });
    keepPrevious(file);
    try {
      renameSync(temporary, file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // a file that is itself a mount point (a single-file bind mount into a container) cannot be
      // replaced by a rename: its text goes in place, now that all of it was written once beside it
      if (code !== "EBUSY" && code !== "EXDEV") throw err;
      rmSync(temporary, { force: true });
      writeInPlace(file, bytes, `${file}.previous`);
    }
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
}

/** Overwrites `file` in place (same inode); on a failure the text kept in `previous` is put back. */
function writeInPlace(file: string, bytes: Buffer, previous: string): void {
  const put = (data: Buffer) => {
    const fd = openSync(file, "r+");
    try {
      writeAll(fd, data);
      ftruncateSync(fd, data.length);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  };
  try {
    put(bytes);
  } catch (err) {
    put(readFileSync(previous));
    throw err;
  }
}

/** write() may write fewer bytes than asked (a nearly full disk): go on until all are written. */
function writeAll(fd: number, bytes: Buffer): void {
  for (let offset = 0; offset < bytes.length; ) {
    const n = writeSync(fd, bytes, offset, bytes.length - offset);
    if (n <= 0) throw Object.assign(new Error("no bytes written"), { code: "ENOSPC" });
    offset += n;
  }
}

function keepPrevious(file: string): void {
  const previous = `${file}.previous`;
  rmSync(previous, { force: true });
  try {
    linkSync(file, previous);
  } catch {
    copyFileSync(file, previous);
  }
}

/** Temporary files of saves whose process was killed mid-write (their pid is gone). */
export function removeAbandonedSaves(path: string): string[] {
  let file = path;
  try {
    file = realpathSync(path);
  } catch {
    // no such file: nothing was saved beside it
  }
  const prefix = `${basename(file)}${SAVING_INFIX}`;
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dirname(file));
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^\d+$/.test(name.slice(prefix.length))) continue;
    const pid = Number(name.slice(prefix.length));
    if (pid !== process.pid && processAlive(pid)) continue;
    rmSync(join(dirname(file), name), { force: true });
    removed.push(name);
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
