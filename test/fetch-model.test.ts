import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchModel, ModelFetchError } from "../edge/detect/fetch-model.ts";

// A local HTTP server stands in for the model host: the real download code runs against it.
const payload = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 251));
const digest = createHash("sha256").update(payload).digest("hex");
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === "/model.onnx") {
      res.writeHead(200, { "content-length": payload.length });
      // two chunks so progress sees more than one update
      res.write(payload.subarray(0, 100_000));
      setTimeout(() => res.end(payload.subarray(100_000)), 5);
    } else if (req.url === "/cut.onnx") {
      res.writeHead(200, { "content-length": payload.length });
      res.write(payload.subarray(0, 1000));
      setTimeout(() => res.destroy(), 5);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const model = (over: Partial<{ sha256: string; url: string }> = {}) => ({
  id: "test-model",
  file: "test-model.onnx",
  url: `${base}/model.onnx`,
  sha256: digest,
  otherSha256: [],
  ...over,
});

describe("counter model fetch", () => {
  it("downloads, verifies sha256, reports progress and writes the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fetch-"));
    const seen: number[] = [];
    let total: number | undefined;
    const r = await fetchModel(model(), dir, {
      progress: { start: (t) => (total = t), update: (v) => seen.push(v), stop: () => {} },
    });
    expect(r).toMatchObject({ downloaded: true, bytes: payload.length, sha256: digest });
    expect(readFileSync(join(dir, "test-model.onnx")).equals(payload)).toBe(true);
    expect(total).toBe(payload.length);
    expect(seen.at(-1)).toBe(payload.length);
    expect(seen.length).toBeGreaterThan(1);
    // a second fetch finds the verified copy
    expect((await fetchModel(model(), dir)).downloaded).toBe(false);
  });

  it("refuses a sha256 mismatch and leaves nothing behind", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fetch-"));
    await expect(fetchModel(model({ sha256: "0".repeat(64) }), dir)).rejects.toThrow(
      /does not match the expected 0{64}; nothing was written/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it("does not replace a good file with a bad download", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fetch-"));
    await fetchModel(model(), dir);
    await expect(fetchModel(model(), dir, { url: `${base}/cut.onnx`, force: true })).rejects.toThrow(
      ModelFetchError,
    );
    expect(readFileSync(join(dir, "test-model.onnx")).equals(payload)).toBe(true);
    expect(readdirSync(dir)).toEqual(["test-model.onnx"]);
  });

  it("removes what a killed download left behind, but not a running one's file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fetch-"));
    // a pid that cannot be running (beyond Linux's pid_max), and this test process's parent, which is alive
    writeFileSync(join(dir, "test-model.onnx.part-99999999"), "half a model");
    writeFileSync(join(dir, `test-model.onnx.part-${process.ppid}`), "another download in progress");
    writeFileSync(join(dir, "other.onnx.part-99999999"), "not ours");
    await fetchModel(model(), dir);
    expect(readdirSync(dir).sort()).toEqual(
      ["other.onnx.part-99999999", "test-model.onnx", `test-model.onnx.part-${process.ppid}`].sort(),
    );
  });

  it("names the URL and HTTP status when the server refuses", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fetch-"));
    await expect(fetchModel(model({ url: `${base}/missing.onnx` }), dir)).rejects.toThrow(
      /missing\.onnx: HTTP 404/,
    );
    expect(existsSync(join(dir, "test-model.onnx"))).toBe(false);
  });

  it("says so when the host cannot be reached", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fetch-"));
    await expect(fetchModel(model({ url: "http://127.0.0.1:1/x.onnx" }), dir)).rejects.toThrow(
      /cannot download test-model from http:\/\/127\.0\.0\.1:1/,
    );
  });
});
