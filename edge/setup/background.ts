import sharp from "sharp";
import type { Box, FramePixels } from "../domain/types.ts";

export interface BackgroundOptions {
  /** Samples kept; the oldest goes when a new one comes. */
  readonly maxSamples: number;
  /** No image is made from fewer samples. */
  readonly minSamples: number;
  /** A pixel is shown only when at least this many samples saw it with nobody over it. */
  readonly minClearSamples: number;
  /**
   * Widest preview (pixels); the scene is scaled down to it, keeping its shape. Frames that come
   * already scaled to the detector's input are never scaled up.
   */
  readonly maxWidth: number;
  /** The median is made again at most this often (it costs the Node thread a few hundred ms). */
  readonly refreshMs: number;
  /** Boxes are masked with this much margin (fraction of the box size) on each side. */
  readonly maskMargin: number;
}

export const DEFAULT_BACKGROUND_OPTIONS: BackgroundOptions = {
  maxSamples: 31,
  minSamples: 5,
  minClearSamples: 3,
  maxWidth: 640,
  maskMargin: 0.2,
  refreshMs: 10_000,
};

/** What a pixel shows when no sample saw it clear of road users: a flat grey, nothing of anyone. */
const UNSEEN = 128;
/** Pixels of the median computed per turn of the event loop, so that the frame loop keeps going. */
const PIXELS_PER_TURN = 2048;

interface Sample {
  readonly rgb: Buffer;
  /** 1 where a detection or track covered the pixel: that sample says nothing about it. */
  readonly covered: Uint8Array;
}

/**
 * The scene without its road users, for drawing lines and zones on: a per-pixel temporal median
 * over frames sampled minutes apart, in which every pixel under a detection or a track (with a
 * margin) is left out of that frame's vote. Someone walking through is never in the median; someone
 * standing still is masked by their box; a pixel no sample saw clear is grey. Samples are scaled
 * down copies; no frame is kept as it was.
 */
export class SceneBackground {
  private readonly samples: Sample[] = [];
  private width = 0;
  private height = 0;
  private image: Promise<Buffer> | undefined;
  private imageMadeMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: BackgroundOptions = DEFAULT_BACKGROUND_OPTIONS) {}

  get sampleCount(): number {
    return this.samples.length;
  }

  get ready(): boolean {
    return this.samples.length >= this.options.minSamples;
  }

  /**
   * Adds one frame. `scene` is the size the boxes refer to; `boxes` are every detection and track
   * in that frame. The pixels are copied and scaled down at once; the caller may reuse its buffer.
   */
  async add(
    pixels: FramePixels,
    scene: { width: number; height: number },
    boxes: readonly Box[],
  ): Promise<void> {
    const width = Math.min(
      this.options.maxWidth,
      scene.width,
      pixels.kind === "rgb" ? pixels.width : scene.width,
    );
    const height = Math.max(1, Math.round((width * scene.height) / scene.width));
    const input =
      pixels.kind === "rgb"
        ? sharp(pixels.data, { raw: { width: pixels.width, height: pixels.height, channels: 3 } })
        : sharp(pixels.data);
    const rgb = await input.removeAlpha().resize(width, height, { fit: "fill" }).raw().toBuffer();
    if (width !== this.width || height !== this.height) {
      // the camera's picture changed size: older samples show another framing
      this.samples.length = 0;
      this.image = undefined;
      this.imageMadeMs = Number.NEGATIVE_INFINITY;
      this.width = width;
      this.height = height;
    }
    const covered = new Uint8Array(width * height);
    const sx = width / scene.width;
    const sy = height / scene.height;
    const m = this.options.maskMargin;
    for (const b of boxes) {
      const mw = (b.x2 - b.x1) * m;
      const mh = (b.y2 - b.y1) * m;
      const x1 = Math.max(0, Math.floor((b.x1 - mw) * sx));
      const x2 = Math.min(width, Math.ceil((b.x2 + mw) * sx));
      const y1 = Math.max(0, Math.floor((b.y1 - mh) * sy));
      const y2 = Math.min(height, Math.ceil((b.y2 + mh) * sy));
      for (let y = y1; y < y2; y++) covered.fill(1, y * width + x1, y * width + x2);
    }
    this.samples.push({ rgb, covered });
    if (this.samples.length > this.options.maxSamples) this.samples.shift();
  }

  /** The preview as JPEG, or undefined until enough samples are in. Made again every `refreshMs`. */
  jpeg(nowMs = Date.now()): Promise<Buffer> | undefined {
    if (!this.ready) return undefined;
    if (nowMs - this.imageMadeMs >= this.options.refreshMs) {
      this.image = undefined;
      this.imageMadeMs = nowMs;
    }
    this.image ??= this.median().then((rgb) =>
      sharp(rgb, { raw: { width: this.width, height: this.height, channels: 3 } })
        .jpeg({ quality: 80 })
        .toBuffer(),
    );
    return this.image;
  }

  /** Drops every sample (set-up ended: nothing of the scene stays in memory). */
  clear(): void {
    this.samples.length = 0;
    this.image = undefined;
    this.imageMadeMs = Number.NEGATIVE_INFINITY;
  }

  private async median(): Promise<Buffer> {
    const { width, height } = this;
    const samples = [...this.samples];
    const n = samples.length;
    const out = Buffer.alloc(width * height * 3);
    const r = new Uint8Array(n);
    const g = new Uint8Array(n);
    const b = new Uint8Array(n);
    const minClear = Math.min(this.options.minClearSamples, n);
    for (let p = 0; p < width * height; p++) {
      if (p % PIXELS_PER_TURN === 0 && p > 0) await new Promise((done) => setImmediate(done));
      let k = 0;
      for (const s of samples) {
        if (s.covered[p] === 1) continue;
        const i = p * 3;
        insertSorted(r, k, s.rgb[i] as number);
        insertSorted(g, k, s.rgb[i + 1] as number);
        insertSorted(b, k, s.rgb[i + 2] as number);
        k++;
      }
      const o = p * 3;
      if (k < minClear) {
        out[o] = out[o + 1] = out[o + 2] = UNSEEN;
      } else {
        const mid = k >> 1;
        out[o] = r[mid] as number;
        out[o + 1] = g[mid] as number;
        out[o + 2] = b[mid] as number;
      }
    }
    return out;
  }
}

/** Inserts `v` into the sorted prefix `a[0..k)` (k is small: at most a few dozen samples). */
function insertSorted(a: Uint8Array, k: number, v: number): void {
  let j = k;
  while (j > 0 && (a[j - 1] as number) > v) {
    a[j] = a[j - 1] as number;
    j--;
  }
  a[j] = v;
}
