import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Config } from "../config/schema.ts";
import { Redactor } from "../domain/redact.ts";
import type { IntervalCounts } from "../domain/types.ts";
import { CountDelivery } from "../publish/delivery.ts";
import { SCHEMA_VERSION, type StatusMessage } from "../publish/messages.ts";
import { MqttPublisher } from "../publish/mqtt-publisher.ts";
import { countsRenderer, lastWillStatus, topicFor } from "../publish/topics.ts";
import { SeqMark } from "../store/seq-mark.ts";
import { CountStore, StoreError } from "../store/store.ts";

export interface OutputLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** A database that could not be opened is tried again this often. */
const STORE_RETRY_MS = 10_000;

/** What the rest of the process reports for the status message. */
export interface LiveStatus {
  readonly model: string | null;
  readonly modelPrecision?: StatusMessage["modelPrecision"];
  readonly camera: StatusMessage["camera"];
  readonly processedFps: number;
  readonly setup: StatusMessage["setup"];
  readonly scene?: StatusMessage["scene"];
}

/**
 * The output side of the device: finished intervals go to SQLite and out over MQTT, and the retained
 * status keeps the broker informed. Constructing does no I/O; `start()` opens the database and
 * connects; `stop()` publishes the offline status and closes both.
 */
export class CountOutput {
  private store: CountStore | undefined;
  private storeTriedMs = 0;
  private publisher: MqttPublisher | undefined;
  private delivery: CountDelivery | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private live: () => LiveStatus = () => ({
    model: null,
    camera: { state: "unknown", since: null, lastError: null },
    processedFps: 0,
    setup: { active: false, since: null, until: null },
  });

  /** The counting lines now: NGSI-LD reads their inbound and forward sides. */
  private lines: Config["lines"];

  constructor(
    readonly config: Config,
    readonly version: string,
    private readonly log: OutputLog,
  ) {
    this.lines = config.lines;
  }

  /** Lines were replaced while counting: messages from now on name their sides from these. */
  setLines(lines: Config["lines"]): void {
    this.lines = lines;
  }

  /** Opens the database; on failure, counting goes on in memory and the next call tries again. */
  private openStore(): CountStore | undefined {
    if (this.store) return this.store;
    const c = this.config;
    const now = Date.now();
    if (now - this.storeTriedMs < STORE_RETRY_MS) return undefined;
    const first = this.storeTriedMs === 0;
    this.storeTriedMs = now;
    try {
      mkdirSync(dirname(c.storage.path), { recursive: true });
      const store = new CountStore(c.storage.path, c.storage.maxSizeMb);
      store.prune(c.storage.retentionDays);
      this.store = store;
      if (!first) this.log.warn(`database ${c.storage.path} opened`);
    } catch (err) {
      const msg =
        err instanceof StoreError
          ? err.message
          : `cannot open database ${c.storage.path}: ${(err as Error).message}`;
      if (first) this.log.error(`${msg}; counting continues with counts held in memory`);
    }
    return this.store;
  }

  start(): void {
    const c = this.config;
    // the sequence mark first: on a nearly full disk it must get its few bytes before the database
    const mark = this.openSeqMark(`${c.storage.path}.seq`);
    this.openStore();
    if (c.mqtt.enabled) {
      const redactor = Redactor.for(c);
      const statusTopic = topicFor(c, "status");
      this.publisher = new MqttPublisher({
        url: c.mqtt.url,
        clientId: c.device.id,
        username: c.mqtt.username,
        password: c.mqtt.password,
        protocolVersion: c.mqtt.protocolVersion,
        tls: c.mqtt.tls,
        statusTopic,
        reconnectMinMs: c.mqtt.reconnectMinSec * 1000,
        reconnectMaxMs: c.mqtt.reconnectMaxSec * 1000,
        will: lastWillStatus(c.device.id, this.version),
        onConnect: () => {
          this.log.info(`connected to ${c.mqtt.url}`);
          void this.publishStatus();
          this.delivery?.kick();
        },
        onError: (m) => this.log.warn(`MQTT: ${m}; counts are kept on disk until delivered`),
        redact: (p) => redactor.json(p),
      });
    }
    this.delivery = new CountDelivery({
      store: () => this.openStore(),
      publisher: this.publisher,
      render: countsRenderer(c, () => this.lines),
      initialSeq: Math.max(this.store?.lastSeq() ?? 0, mark?.read() ?? 0),
      markSeq: (seq) => {
        try {
          mark?.write(seq);
        } catch (err) {
          this.log.error(`cannot record sequence number ${seq} in ${mark?.path}: ${(err as Error).message}`);
        }
      },
      onStorageError: (m) => this.log.error(`${m}; counts are held in memory until the database is writable`),
      onStorageRecovered: (n) =>
        this.log.warn(`the database is writable again: ${n} intervals held in memory are now stored`),
    });
    // the interval that was in progress when the process last died: what it had counted goes out,
    // marked partial, its coverage saying how much of it was observed
    const open = this.store?.takeOpenInterval();
    if (open) {
      this.log.warn(
        `the last run ended without closing its interval (power loss or kill): delivering what it had counted from ${new Date(open.startMs).toISOString()} (${open.quality.coverageSec} s observed)`,
      );
      this.delivery.deliver({ ...open, partial: true });
    }
    this.publisher?.start();
    this.statusTimer = setInterval(() => void this.publishStatus(), 30_000);
    this.statusTimer.unref();
    this.pruneTimer = setInterval(() => this.store?.prune(c.storage.retentionDays), 6 * 3600_000);
    this.pruneTimer.unref();
  }

  private openSeqMark(path: string): SeqMark | undefined {
    try {
      mkdirSync(dirname(path), { recursive: true });
      return new SeqMark(path);
    } catch (err) {
      this.log.error(`cannot open ${path} (sequence numbers): ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Saves the interval in progress, so that a crash or power loss loses at most what came since. */
  checkpoint(open: IntervalCounts): void {
    try {
      this.store?.saveOpenInterval(open);
    } catch {
      // the database is full or gone: the storage error is already reported by delivery
    }
  }

  /** Stores and sends finished intervals, oldest first. */
  handle(intervals: readonly IntervalCounts[]): void {
    for (const iv of intervals) this.delivery!.deliver(iv);
    if (intervals.length > 0) void this.publishStatus();
  }

  /** What the status message reports of the rest of the process: a snapshot, or read each time. */
  setLive(live: LiveStatus | (() => LiveStatus)): void {
    this.live = typeof live === "function" ? live : () => live;
  }

  /** The camera or model changed: publish the status now rather than at the next tick. */
  statusChanged(): void {
    void this.publishStatus();
  }

  get database(): CountStore | undefined {
    return this.store;
  }

  get storageError(): string | null {
    return this.delivery?.storageError ?? null;
  }

  get brokerConnected(): boolean {
    return this.publisher?.connected ?? false;
  }

  get brokerError(): string | null {
    return this.publisher?.lastError ?? null;
  }

  outboxDepth(): number {
    return this.delivery?.outboxDepth() ?? 0;
  }

  statusMessage(online: boolean): StatusMessage {
    const live = this.live();
    return {
      type: "status",
      schemaVersion: SCHEMA_VERSION,
      deviceId: this.config.device.id,
      online,
      version: this.version,
      model: live.model,
      ...(online && live.modelPrecision ? { modelPrecision: live.modelPrecision } : {}),
      // once offline, nothing is observed: no camera state, no frame rate
      camera: online ? live.camera : { state: "unknown", since: null, lastError: null },
      processedFps: online ? live.processedFps : 0,
      setup: online ? live.setup : { active: false, since: null, until: null },
      ...(online && live.scene ? { scene: live.scene } : {}),
      outboxDepth: this.outboxDepth(),
      storageError: this.storageError,
      ts: new Date().toISOString(),
    };
  }

  private async publishStatus(): Promise<void> {
    if (!this.publisher?.connected) return;
    await this.publisher.publishStatus(this.statusMessage(true)).catch(() => {});
  }

  /**
   * Waits (up to `timeoutMs`) for the outbox to drain; for shutdown and tests. With MQTT switched
   * off nothing drains: it answers at once.
   */
  async drained(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (this.outboxDepth() === 0) return true;
      if (!this.publisher) return false;
      this.delivery?.kick();
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.outboxDepth() === 0;
  }

  async stop(): Promise<void> {
    clearInterval(this.statusTimer);
    clearInterval(this.pruneTimer);
    await this.publisher?.stop(this.statusMessage(false));
    this.store?.close();
  }
}
