import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./assets.ts";

export interface CounterProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

/** `bin/counter.js ARGS` as a child process, its output collected. */
export function counterProcess(args: string[], env: Record<string, string> = {}): CounterProcess {
  const child = spawn(process.execPath, [join(REPO_ROOT, "bin/counter.js"), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}
