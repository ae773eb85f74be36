import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { join, resolve } from "node:path";
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

const MAX_REDIRECTS = 5;
const IDLE_TIMEOUT_MS = 30_000;

/**
 * GET with redirects, on node:http(s) rather than fetch: Node 22's bundled fetch has crashed the
 * process with an internal assertion when a server closed the connection at the end of a download.
 */
function httpGet(url: string, redirects = MAX_REDIRECTS): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const client = u.protocol === "https:" ? https : u.protocol === "http:" ? http : undefined;
    if (!client) {
      reject(new Error(`unsupported protocol ${u.protocol} (http: or https: expected)`));
      return;
    }
    const req = client.get(u, (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location) {
        res.resume();
        if (redirects === 0) reject(new Error(`more than ${MAX_REDIRECTS} redirects`));
        else resolve(httpGet(new URL(location, u).href, redirects - 1));
        return;
      }
      resolve(res);
    });
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
    req.on("error", reject);
  });
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
  let response: IncomingMessage;
  try {
    response = await httpGet(url);
  } catch (err) {
    throw new ModelFetchError(
      `cannot download ${model.id} from ${url}: ${(err as Error).message}${offline()}`,
    );
  }
  const status = response.statusCode ?? 0;
  if (status < 200 || status > 299) {
    response.resume();
    throw new ModelFetchError(
      `cannot download ${model.id} from ${url}: HTTP ${status} ${response.statusMessage ?? ""}${offline()}`,
    );
  }
  const lengthHeader = response.headers["content-length"];
  const total = lengthHeader ? Number(lengthHeader) : undefined;
  const temporary = `${target}.part-${process.pid}`;
  const hash = createHash("sha256");
  let received = 0;
  options.progress?.start(total);
  try {
    const body = response;
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
