/** The bench's settings: parsed once from the command line by scripts/bench.ts, handed to every section. */
export interface BenchOptions {
  /** Frames timed per row after warm-up (detect). */
  readonly iterations: number;
  /**
   * ONNX Runtime intra-op threads as given; 0 (the default) lets ONNX Runtime choose in the detect
   * section, and means 1 in the sections that run the counter (see `counterThreads`).
   */
  readonly threads: number;
  /** Model ids to measure (detect); all of the manifest's when not given. */
  readonly models: readonly string[] | undefined;
  /** Soak length in minutes; the soak section runs only when it is given. */
  readonly minutes: number | undefined;
  /** Seconds of video replayed (pipeline, setup, history). */
  readonly seconds: number;
  /** Runs of each mode (setup). */
  readonly repeats: number;
  /** Whether a client asks /health in a loop while the pipeline section counts (off: throughput alone). */
  readonly healthClient: boolean;
  /** One configuration of the pipeline section, given to the child process it starts (`pipeline-run`). */
  readonly pipelineRun: PipelineRunOptions | undefined;
}

export interface PipelineRunOptions {
  /** The H.264 clip to replay. */
  readonly clip: string;
  readonly inference: "main-thread" | "worker";
  /** The local API's port, which the parent's /health client asks. */
  readonly port: number;
  /** The SQLite file the run stores its intervals in. */
  readonly db: string;
}

/** Model threads for a section that runs the counter: the given number, 1 when left at 0. */
export function counterThreads(options: BenchOptions): number {
  return options.threads || 1;
}
