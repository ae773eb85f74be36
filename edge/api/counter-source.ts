import type { SourceState } from "../capture/source.ts";
import type { GeometryEdit } from "../config/edit.ts";
import { redactConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import type { LiveCounts } from "../domain/live.ts";
import type { StatusMessage } from "../publish/messages.ts";
import type { SetupAccess } from "../setup/setup-mode.ts";
import type { CountStore } from "../store/store.ts";
import type { GeometryView } from "./contract.ts";
import type { ApiSource } from "./server.ts";

/** A running counter's outputs as the API reads them: the database, the broker, the status. */
export interface CounterOutputs {
  /** undefined while the database is not available (`storageError` says why). */
  readonly database: CountStore | undefined;
  readonly storageError: string | null;
  readonly brokerConnected: boolean;
  readonly brokerError: string | null;
  outboxDepth(): number;
  statusMessage(online: boolean): StatusMessage;
}

/** A running counter's Prometheus registry, and the outbox gauge, which is read only when scraped. */
export interface CounterMetricsRegistry {
  readonly registry: { readonly contentType: string; metrics(): Promise<string> };
  readonly outboxDepth: { set(value: number): void };
}

/** What a running counter (`CounterRuntime`) offers the local API. */
export interface RunningCounter {
  readonly config: Config;
  readonly output: CounterOutputs;
  readonly metrics: CounterMetricsRegistry;
  readonly setup: SetupAccess;
  /** The loaded model's id, or null while none is loaded. */
  modelLoaded(): string | null;
  camera(): SourceState | undefined;
  /** The lines and zones counted now, the device file's revision and the detection region. */
  geometry(): GeometryView;
  /** Saved to the device file and applied while counting (see `ApiSource.saveGeometry`). */
  saveGeometry(edit: GeometryEdit, revision?: string): GeometryView;
  liveCounts(): LiveCounts;
}

/**
 * The API's narrow source over a running counter: health, history, metrics, status, the redacted
 * configuration, set-up. Every answer is read from the counter when it is asked for.
 */
export function counterApiSource(counter: RunningCounter): ApiSource {
  const { config, output, metrics } = counter;
  return {
    history: {
      deviceId: config.device.id,
      database: () => output.database,
      databaseError: () => output.storageError,
    },
    model: () => counter.modelLoaded(),
    camera: () => counter.camera(),
    broker: () => ({
      enabled: config.mqtt.enabled,
      connected: output.brokerConnected,
      lastError: output.brokerError,
    }),
    outboxDepth: () => output.outboxDepth(),
    metrics: async () => {
      metrics.outboxDepth.set(output.outboxDepth());
      return { contentType: metrics.registry.contentType, text: await metrics.registry.metrics() };
    },
    status: () => output.statusMessage(true),
    redactedConfig: () => redactConfig(config),
    geometry: () => counter.geometry(),
    saveGeometry: (edit, revision) => counter.saveGeometry(edit, revision),
    setup: counter.setup,
    liveCounts: () => counter.liveCounts(),
  };
}
