import type { Mode } from "../domain/types.ts";

interface LostEntry<T> {
  readonly trackId: number;
  readonly x: number;
  readonly y: number;
  readonly mode: Mode;
  readonly lostAtMs: number;
  readonly state: T;
}

/**
 * Remembers where tracks were last seen, for a short time, so that a track born next to where a
 * same-mode track just vanished can take over its counting state: a tracker ID switch then neither
 * adds a crossing nor loses one. Bounded by time: entries older than the window are dropped.
 */
export class Handover<T> {
  private entries: LostEntry<T>[] = [];

  constructor(private readonly windowMs: number) {}

  add(trackId: number, x: number, y: number, mode: Mode, tsMs: number, state: T): void {
    this.drop(trackId);
    this.entries.push({ trackId, x, y, mode, lostAtMs: tsMs, state });
  }

  /** The track was seen again: it is not a candidate any more. */
  drop(trackId: number): void {
    const i = this.entries.findIndex((e) => e.trackId === trackId);
    if (i >= 0) this.entries.splice(i, 1);
  }

  /** Takes the nearest same-mode entry within `radius` of (x, y), if any. */
  take(
    x: number,
    y: number,
    mode: Mode,
    radius: number,
    tsMs: number,
  ): { trackId: number; state: T } | undefined {
    this.prune(tsMs);
    let best = -1;
    let bestDist = radius;
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.mode !== mode) continue;
      const d = Math.hypot(e.x - x, e.y - y);
      if (d <= bestDist) {
        bestDist = d;
        best = i;
      }
    }
    if (best < 0) return undefined;
    const [e] = this.entries.splice(best, 1);
    return { trackId: e!.trackId, state: e!.state };
  }

  prune(tsMs: number): void {
    if (this.entries.length > 0 && tsMs - this.entries[0]!.lostAtMs > this.windowMs) {
      this.entries = this.entries.filter((e) => tsMs - e.lostAtMs <= this.windowMs);
    }
  }

  get size(): number {
    return this.entries.length;
  }
}
