import type { FastifyInstance } from "fastify";
import { counterApiSource } from "../api/counter-source.ts";
import { buildApi } from "../api/server.ts";
import type { Config } from "../config/schema.ts";
import { Redactor } from "../domain/redact.ts";
import type { Logger } from "./logger.ts";
import { CounterRuntime, type RuntimeDeps } from "./runtime.ts";

export interface RunHandle {
  readonly runtime: CounterRuntime;
  readonly api: FastifyInstance | undefined;
  /** Resolves when the pipeline stopped and everything is closed. */
  readonly done: Promise<void>;
  stop(): void;
}

/**
 * Starts the whole counter: model, camera, outputs, local API. Rejects if something fatal fails
 * (model missing, camera config invalid); transient trouble (camera or broker down) is retried.
 */
export async function startCounter(config: Config, deps: RuntimeDeps & { log: Logger }): Promise<RunHandle> {
  const runtime = new CounterRuntime(config, deps);
  const redactor = Redactor.for(config);
  // The API binds first: a busy port must stop the start before anything connects or says "online".
  let api: FastifyInstance | undefined;
  if (config.api.enabled) {
    api = buildApi({
      source: counterApiSource(runtime),
      host: config.api.host,
      token: config.api.token,
      redact: (text) => redactor.json(text),
      allowedHosts: config.api.allowedHosts,
      log: deps.log,
    });
    try {
      const address = await api.listen({ host: config.api.host, port: config.api.port });
      deps.log.child({ stage: "api" }).info({ address }, "local API listening");
    } catch (err) {
      await api.close().catch(() => {});
      throw new Error(listenFailure(config, err as NodeJS.ErrnoException));
    }
  }
  try {
    await runtime.start();
  } catch (err) {
    await api?.close().catch(() => {});
    await runtime.shutdown(0).catch(() => {});
    throw err;
  }
  const done = (async () => {
    try {
      await runtime.run();
    } finally {
      await api?.close();
      await runtime.shutdown();
    }
  })();
  return { runtime, api, done, stop: () => runtime.requestStop() };
}

function listenFailure(config: Config, err: NodeJS.ErrnoException): string {
  const where = `${config.api.host}:${config.api.port}`;
  switch (err.code) {
    case "EADDRINUSE":
      return `api.port: ${where} is already in use by another process; stop it, choose another api.port, or set api.enabled: false`;
    case "EACCES":
      return `api.port: no permission to listen on ${where} (ports below 1024 need privileges); choose a port above 1024`;
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
      return `api.host: ${config.api.host} is not an address of this machine`;
    default:
      return `api: cannot listen on ${where}: ${err.message}`;
  }
}
