/**
 * Box candidates in model-input pixels, stored column-wise in typed arrays that are allocated
 * once per detector and reused for every frame.
 */
export class Candidates {
  x1: Float32Array;
  y1: Float32Array;
  x2: Float32Array;
  y2: Float32Array;
  score: Float32Array;
  classId: Int32Array;
  count = 0;
  /** Per-anchor scratch for decoders that scan class rows (best score and its class). */
  private bestScore = new Float32Array(0);
  private bestClass = new Int32Array(0);

  constructor(private capacity: number) {
    this.x1 = new Float32Array(capacity);
    this.y1 = new Float32Array(capacity);
    this.x2 = new Float32Array(capacity);
    this.y2 = new Float32Array(capacity);
    this.score = new Float32Array(capacity);
    this.classId = new Int32Array(capacity);
  }

  /** Scratch arrays of at least `n` entries, reused across frames. */
  bestScratch(n: number): { bestScore: Float32Array; bestClass: Int32Array } {
    if (this.bestScore.length < n) {
      this.bestScore = new Float32Array(n);
      this.bestClass = new Int32Array(n);
    }
    return { bestScore: this.bestScore, bestClass: this.bestClass };
  }

  reset(): void {
    this.count = 0;
  }

  push(x1: number, y1: number, x2: number, y2: number, score: number, classId: number): void {
    if (this.count === this.capacity) this.grow();
    const i = this.count++;
    this.x1[i] = x1;
    this.y1[i] = y1;
    this.x2[i] = x2;
    this.y2[i] = y2;
    this.score[i] = score;
    this.classId[i] = classId;
  }

  private grow(): void {
    const cap = this.capacity * 2;
    const g = <T extends Float32Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.x1 = g(this.x1, (n) => new Float32Array(n));
    this.y1 = g(this.y1, (n) => new Float32Array(n));
    this.x2 = g(this.x2, (n) => new Float32Array(n));
    this.y2 = g(this.y2, (n) => new Float32Array(n));
    this.score = g(this.score, (n) => new Float32Array(n));
    this.classId = g(this.classId, (n) => new Int32Array(n));
    this.capacity = cap;
  }
}
