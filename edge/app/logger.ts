import pino from "pino";
import { redactJson } from "../domain/redact.ts";

/**
 * Structured logs to stderr (journald / docker logs pick them up). One child logger per stage.
 * Every line passes through `redact` (default: URL credentials and secret query parameters; with
 * a configuration, its secret values too) on its way out, whatever a stage or a library put in it.
 */
export function createLogger(
  level = process.env.LOG_LEVEL ?? "info",
  redact: (line: string) => string = redactJson,
): pino.Logger {
  const dest = pino.destination({ fd: 2, sync: true });
  return pino(
    { level, base: { app: "edge-counter" } },
    { write: (line: string) => dest.write(redact(line)) },
  );
}

export type Logger = pino.Logger;
