/**
 * Processed frames per second as frames / elapsed time over the last `windowMs` (not an average
 * of per-frame rates, which overstates an uneven stream). Timestamps live in a ring allocated once.
 */
export class FrameRate {
  private readonly times: Float64Array;
  private head = 0;
  private size = 0;
  private startMs: number | undefined;

  constructor(
    readonly windowMs = 10_000,
    capacity = 4096,
  ) {
    this.times = new Float64Array(capacity);
  }

  /** Counting starts now: until a whole window has passed, the rate is over the time since. */
  start(nowMs: number): void {
    this.startMs = nowMs;
    this.size = 0;
  }

  add(nowMs: number): void {
    this.startMs ??= nowMs;
    this.times[this.head] = nowMs;
    this.head = (this.head + 1) % this.times.length;
    if (this.size < this.times.length) this.size++;
  }

  perSecond(nowMs: number): number {
    if (this.startMs === undefined) return 0;
    const since = nowMs - this.windowMs;
    let n = 0;
    let oldest = nowMs;
    let newest = 0;
    for (let k = 1; k <= this.size; k++) {
      const t = this.times[(this.head - k + this.times.length) % this.times.length]!;
      if (t <= since) break;
      if (n === 0) newest = t;
      n++;
      oldest = t;
    }
    if (n === 0) return 0;
    // more frames in the window than the ring holds: the intervals between the ones it has
    if (n === this.times.length) return newest > oldest ? ((n - 1) * 1000) / (newest - oldest) : 0;
    // at least a second, so that the first frames do not read as a burst
    const elapsedMs = Math.max(1000, Math.min(this.windowMs, nowMs - this.startMs));
    return (n * 1000) / elapsedMs;
  }
}
