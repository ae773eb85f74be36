import type { FastifyInstance } from "fastify";
import { buildApi } from "../api/server.ts";
import type { Config } from "../config/schema.ts";
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
  await runtime.start();
  let api: FastifyInstance | undefined;
  if (config.api.enabled) {
    api = buildApi(runtime);
    const address = await api.listen({ host: config.api.host, port: config.api.port });
    deps.log.child({ stage: "api" }).info({ address }, "local API listening");
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
