/** Minimal JPEG/PNG header reading: enough to size and sanity-check frames without decoding them. */

/** Width and height from a JPEG's SOF marker, or undefined if the bytes are not a complete JPEG. */
export function jpegSize(b: Buffer): { width: number; height: number } | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  // must end with EOI (allowing trailing CR/LF from multipart framing)
  let end = b.length;
  while (end > 2 && (b[end - 1] === 0x0a || b[end - 1] === 0x0d)) end--;
  if (b[end - 2] !== 0xff || b[end - 1] !== 0xd9) return undefined;
  let i = 2;
  while (i + 9 < end) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    const len = b.readUInt16BE(i + 2);
    // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC)
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = b.readUInt16BE(i + 5);
      const width = b.readUInt16BE(i + 7);
      return width > 0 && height > 0 ? { width, height } : undefined;
    }
    if (marker === 0xda) return undefined; // start of scan before any frame header
    i += 2 + len;
  }
  return undefined;
}

export function pngSize(b: Buffer): { width: number; height: number } | undefined {
  if (b.length < 24 || b.readUInt32BE(0) !== 0x89504e47 || b.toString("ascii", 12, 16) !== "IHDR")
    return undefined;
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

/**
 * Splits a byte stream of concatenated JPEGs (rpicam-vid --codec mjpeg) at SOI/EOI markers. Bytes
 * between images are skipped; 0xFF 0xD9 occurs in JPEG data only as the end-of-image marker.
 */
export class JpegStreamSplitter {
  private parts: Buffer[] = [];
  private length = 0;
  private inImage = false;
  private prev = -1;

  constructor(
    private readonly onImage: (jpeg: Buffer) => void,
    private readonly onGarbage: (bytes: number) => void = () => {},
    private readonly maxBytes = 20 * 1024 * 1024,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (!this.inImage) {
        if (this.prev === 0xff && b === 0xd8) {
          this.inImage = true;
          this.parts = [Buffer.from([0xff])];
          this.length = 1;
          start = i;
        }
      } else if (this.prev === 0xff && b === 0xd9) {
        const piece = chunk.subarray(start, i + 1);
        this.parts.push(piece);
        this.length += piece.length;
        this.onImage(Buffer.concat(this.parts, this.length));
        this.parts = [];
        this.length = 0;
        this.inImage = false;
        start = i + 1;
      }
      this.prev = b;
    }
    if (this.inImage) {
      const piece = chunk.subarray(start);
      this.parts.push(piece);
      this.length += piece.length;
      if (this.length > this.maxBytes) {
        this.onGarbage(this.length);
        this.parts = [];
        this.length = 0;
        this.inImage = false;
      }
    }
  }
}

/**
 * Parses a multipart/x-mixed-replace body (HTTP MJPEG cameras) into parts. Each part's body is
 * handed over whole; whether it is a usable JPEG is for the caller to decide.
 */
export class MultipartParser {
  private buf: Buffer = Buffer.alloc(0);
  private readonly delimiter: Buffer;

  constructor(
    boundary: string,
    private readonly onPart: (body: Buffer) => void,
    private readonly maxPartBytes = 20 * 1024 * 1024,
  ) {
    this.delimiter = Buffer.from(`--${boundary.replace(/^--/, "")}`);
  }

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const first = this.buf.indexOf(this.delimiter);
      if (first < 0) {
        if (this.buf.length > this.maxPartBytes) this.buf = Buffer.alloc(0);
        return;
      }
      const headerEnd = this.buf.indexOf("\r\n\r\n", first);
      if (headerEnd < 0) return;
      const next = this.buf.indexOf(this.delimiter, headerEnd + 4);
      if (next < 0) {
        if (this.buf.length - first > this.maxPartBytes) this.buf = Buffer.alloc(0);
        return;
      }
      let bodyEnd = next;
      if (this.buf[bodyEnd - 1] === 0x0a) bodyEnd--;
      if (this.buf[bodyEnd - 1] === 0x0d) bodyEnd--;
      this.onPart(Buffer.from(this.buf.subarray(headerEnd + 4, bodyEnd)));
      this.buf = this.buf.subarray(next);
    }
  }
}
