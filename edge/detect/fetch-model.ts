import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ModelDescriptor } from "./model-descriptor.ts";

export class ModelFetchError extends Error {
  override readonly name = "ModelFetchError";
}

export interface FetchProgress {
  start(totalBytes: number | undefined): void;
  update(receivedBytes: number): void;
  stop(): void;
}

export interface FetchResult {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
  /** False when a verified copy was already there. */
  readonly downloaded: boolean;
}

async function existingDigest(path: string): Promise<string | undefined> {
  try {
    await stat(path);
  } catch {
    return undefined;
  }
  const hash = createHash("sha256");
  const { createReadStream } = await import("node:fs");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

/**
 * A download killed midway (power cut, SIGKILL by a service manager) leaves `<file>.part-<pid>`;
 * each later start would add another. Those whose process is gone are removed before downloading.
 */
async function removeAbandonedParts(dir: string, file: string): Promise<void> {
  const prefix = `${file}.part-`;
  for (const name of await readdir(dir)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (Number.isInteger(pid) && pid !== process.pid && processAlive(pid)) continue;
    await rm(join(dir, name), { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Where a model is downloaded from: the manifest URL, or `mirror` + the model's file name when a
 * mirror (MODEL_MIRROR) is set, for networks that cannot reach the original host. The sha256 is
 * checked either way, so a mirror cannot substitute a different file.
 */
export function modelSourceUrl(model: Pick<ModelDescriptor, "file" | "url">, mirror?: string): string {
  if (!mirror) return model.url;
  return `${mirror.replace(/\/+$/, "")}/${encodeURIComponent(model.file)}`;
}

/** The ways to a model file that need no download from its original host. */
export function modelFetchHint(model: Pick<ModelDescriptor, "id" | "file">): string {
  return (
    `or set MODEL_DIR to a folder that holds it, or MODEL_MIRROR to a server that has it (MODEL_MIRROR/${model.file}), ` +
    `or run \`counter model fetch ${model.id} --url URL\` with a URL this machine can reach`
  );
}

/**
 * Downloads a manifest model into `dir`: streams to a temporary file beside the target while hashing,
 * and renames it into place only when the sha256 matches. A mismatch leaves nothing behind.
 */
export async function fetchModel(
  model: Pick<ModelDescriptor, "id" | "file" | "url" | "sha256" | "otherSha256">,
  dir: string,
  options: {
    url?: string;
    progress?: FetchProgress;
    force?: boolean;
    /** What else the user can do when the download fails (offline): appended to the error. */
    hint?: string;
  } = {},
): Promise<FetchResult> {
  const target = resolve(join(dir, model.file));
  const accepted = [model.sha256, ...model.otherSha256];
  if (!options.force) {
    const digest = await existingDigest(target);
    if (digest && accepted.includes(digest)) {
      const { size } = await stat(target);
      return { path: target, bytes: size, sha256: digest, downloaded: false };
    }
  }
  await mkdir(dir, { recursive: true });
  await removeAbandonedParts(dir, model.file);
  const url = options.url ?? model.url;
  // offline is the normal case on a pole: say how to get the file there without this download
  const offline = () =>
    `\nWithout this download: copy ${model.file} (sha256 ${model.sha256}) into ${resolve(dir)}` +
    (options.hint ? `; ${options.hint}` : "");
  let response: Response;
  try {
    response = await fetch(url, { redirect: "follow" });
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
    throw new ModelFetchError(`cannot download ${model.id} from ${url}: ${cause}${offline()}`);
  }
  if (!response.ok || !response.body) {
    throw new ModelFetchError(
      `cannot download ${model.id} from ${url}: HTTP ${response.status} ${response.statusText}${offline()}`,
    );
  }
  const lengthHeader = response.headers.get("content-length");
  const total = lengthHeader ? Number(lengthHeader) : undefined;
  const temporary = `${target}.part-${process.pid}`;
  const hash = createHash("sha256");
  let received = 0;
  options.progress?.start(total);
  try {
    const body = Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>);
    body.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      received += chunk.length;
      options.progress?.update(received);
    });
    await pipeline(body, createWriteStream(temporary, { flags: "wx" }));
  } catch (err) {
    await rm(temporary, { force: true });
    throw new ModelFetchError(
      `download of ${model.id} from ${url} failed after ${received} bytes: ${(err as Error).message}`,
    );
  } finally {
    options.progress?.stop();
  }
  const digest = hash.digest("hex");
  if (!accepted.includes(digest)) {
    await rm(temporary, { force: true });
    throw new ModelFetchError(
      `refusing ${model.id} from ${url}: sha256 ${digest} (${received} bytes) does not match the expected ${model.sha256}; nothing was written`,
    );
  }
  await rename(temporary, target);
  return { path: target, bytes: received, sha256: digest, downloaded: true };
}
