import { availableParallelism } from "node:os";

/**
 * ONNX Runtime's session threading for `threads` (0 = one per core). Its own default for 0 is not
 * one per core: it counts "physical cores or half of the logical ones", and on a 2-vCPU machine
 * that came to one thread, the caller's, with no pool at all. The counter resolves 0 itself, so
 * `model.threads: 0` means the same on every device, and the worker's lower priority (given when
 * the threads fill every core) matches what runs.
 */
export function sessionThreading(threads: number): { intraOpNumThreads: number; interOpNumThreads: number } {
  return { intraOpNumThreads: threads > 0 ? threads : availableParallelism(), interOpNumThreads: 1 };
}
