import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { findModel, loadManifest, type ModelDescriptor } from "./model-descriptor.ts";
import { BASE_MODEL_KEY, PRECISION_KEY, readOnnxMetadata } from "./onnx-metadata.ts";

export class ModelLoadError extends Error {
  override readonly name = "ModelLoadError";
}

export interface ModelFile {
  readonly path: string;
  readonly bytes: Buffer;
  /**
   * The manifest entry the file matches (by id or by sha256), if any; for a copy quantized by
   * `counter model quantize`, its float model's entry under the id `<id>-int8`.
   */
  readonly descriptor: ModelDescriptor | undefined;
  /** The manifest model a quantized copy was made from. */
  readonly quantizedFrom?: string;
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function modelFetchHint(id: string, modelDir: string): string {
  return `get it with: counter model fetch ${id} --dir ${modelDir}`;
}

/**
 * Resolves a model reference, a manifest id (looked up in `modelDir`) or a file path, reads it and
 * checks it. A manifest model must match its sha256, so a truncated or wrong download is named
 * with what was expected instead of failing deep inside ONNX Runtime.
 */
export function readModelFile(ref: string, modelDir: string): ModelFile {
  const byId = findModel(ref);
  if (byId) {
    const path = resolve(join(modelDir, byId.file));
    if (!existsSync(path)) {
      throw new ModelLoadError(
        `model file not found: ${path} (model ${byId.id}: ${byId.name}, ` +
          `${byId.bytes ?? "?"} bytes, sha256 ${byId.sha256}); ${modelFetchHint(byId.id, modelDir)}`,
      );
    }
    const bytes = readFileSync(path);
    const digest = sha256(bytes);
    if (digest !== byId.sha256 && !byId.otherSha256.includes(digest)) {
      const expectedSize = byId.bytes ? `${byId.bytes} bytes` : "the published size";
      throw new ModelLoadError(
        `model file ${path} is not the expected ${byId.id}: it has ${bytes.length} bytes and sha256 ${digest}, ` +
          `expected ${expectedSize} and sha256 ${byId.sha256}. It is truncated or a different file; ` +
          modelFetchHint(byId.id, modelDir),
      );
    }
    return { path, bytes, descriptor: byId };
  }
  const path = resolve(ref);
  if (!existsSync(path) || !statSync(path).isFile()) {
    const ids = loadManifest()
      .models.map((m) => m.id)
      .join(", ");
    throw new ModelLoadError(
      `model not found: "${ref}" is neither a known model id (${ids}) nor an existing file (${path})`,
    );
  }
  const bytes = readFileSync(path);
  if (bytes.length === 0)
    throw new ModelLoadError(`model file ${path} is empty (0 bytes); expected an ONNX model`);
  const digest = sha256(bytes);
  const known = loadManifest().models.find((m) => m.sha256 === digest || m.otherSha256.includes(digest));
  if (known) return { path, bytes, descriptor: known };
  return { path, bytes, ...quantizedCopy(bytes, path, digest) };
}

/** A file `counter model quantize` wrote names its float model in its metadata; it reads input and output alike. */
function quantizedCopy(
  bytes: Buffer,
  path: string,
  digest: string,
): { descriptor: ModelDescriptor | undefined; quantizedFrom?: string } {
  let meta: Map<string, string>;
  try {
    meta = readOnnxMetadata(bytes);
  } catch {
    return { descriptor: undefined }; // not readable as ONNX: ONNX Runtime names the problem
  }
  const base = findModel(meta.get(BASE_MODEL_KEY) ?? "");
  if (!base) return { descriptor: undefined };
  const precision = meta.get(PRECISION_KEY) ?? "int8";
  return {
    descriptor: {
      ...base,
      id: `${base.id}-${precision}`,
      name: `${base.name}, quantized to ${precision}`,
      file: basename(path),
      sha256: digest,
      otherSha256: [],
      bytes: bytes.length,
    },
    quantizedFrom: base.id,
  };
}
