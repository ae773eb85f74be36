import { closeSync, fdatasyncSync, openSync, readSync, writeSync } from "node:fs";

const WIDTH = 24;

/**
 * The highest delivery sequence number handed out, in a small file beside the database, written
 * before the number is used. It is overwritten in place (the same bytes, already allocated), so it
 * can still be written when the disk is full and the database is not: a restart then continues
 * above every number that may have gone out from memory, and no `seq` is ever repeated.
 */
export class SeqMark {
  private readonly fd: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, "a+");
    closeSync(this.fd);
    this.fd = openSync(path, "r+");
    if (this.read() === 0) this.write(0);
  }

  read(): number {
    const buf = Buffer.alloc(WIDTH);
    const n = readSync(this.fd, buf, 0, WIDTH, 0);
    const v = Number.parseInt(buf.subarray(0, n).toString("ascii").trim(), 10);
    return Number.isFinite(v) && v > 0 ? v : 0;
  }

  write(seq: number): void {
    writeSync(this.fd, Buffer.from(String(seq).padEnd(WIDTH - 1, " ") + "\n", "ascii"), 0, WIDTH, 0);
    fdatasyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}
