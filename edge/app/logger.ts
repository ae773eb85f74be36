import pino from "pino";

/** Structured logs to stderr (journald / docker logs pick them up). One child logger per stage. */
export function createLogger(level = process.env.LOG_LEVEL ?? "info"): pino.Logger {
  return pino({ level, base: { app: "edge-counter" } }, pino.destination(2));
}

export type Logger = pino.Logger;
