import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from "mqtt";
import type { Logger } from "../app/logger.ts";
import { describeMqttError } from "../publish/mqtt-publisher.ts";
import { siteCsv } from "./csv.ts";
import { siteClientId } from "./load.ts";
import {
  type AlarmMessage,
  readCountsMessage,
  readStatusMessage,
  type SiteMessage,
  siteTopics,
} from "./messages.ts";
import type { SiteConfig } from "./schema.ts";
import { SiteState } from "./site-state.ts";
import { SiteStore } from "./site-store.ts";

/** The site message is published at most this often (a burst of gates' intervals gives one message). */
const PUBLISH_MIN_GAP_MS = 200;
/** ...and at least this often, so gate states age and readers can tell the process is alive by `ts`. */
const HEARTBEAT_MS = 10_000;

export interface SiteProcessOptions {
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * `counter site`: the devices' intervals in, through a persistent MQTT session (QoS 1, fixed client
 * id: the broker keeps what arrives while this process is away), de-duplicated by (device, seq) in
 * SQLite, committed before the broker is acknowledged; the site message and alarms out.
 */
export class SiteProcess {
  readonly store: SiteStore;
  readonly state: SiteState;
  private client: MqttClient | undefined;
  private readonly topics: { occupancy: string; alarm: string };
  private readonly now: () => number;
  private publishTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastPublishMs = 0;
  private pendingAlarm: AlarmMessage | null = null;
  lastError: string | null = null;
  /** Intervals received, new and repeated, since start (for logs and tests). */
  readonly received = { intervals: 0, duplicates: 0, rejected: 0 };
  latest: SiteMessage | undefined;
  /** Resolves with the reason when the process cannot go on (its database failed). */
  readonly failed: Promise<string>;
  private fail: (reason: string) => void = () => {};

  constructor(
    readonly config: SiteConfig,
    private readonly options: SiteProcessOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.failed = new Promise((resolve) => {
      this.fail = resolve;
    });
    this.topics = siteTopics(config.mqtt.baseTopic, config.site.id);
    this.store = new SiteStore(config.storage.path);
    this.state = new SiteState(config, this.now());
    const state = this.state;
    // gates changed in site.yaml (a corrected `in` side): the history is recounted with them
    const fingerprint = JSON.stringify([config.gates, config.modes ?? null]);
    if (
      this.store.regateIfChanged(
        fingerprint,
        (iv) => state.gateCounts(iv),
        (body) => readCountsMessage(body),
      )
    )
      options.log.info({ intervals: this.store.intervalCount() }, "gates changed: history recounted");
    this.restore();
    // "" is no level
    this.state.alarmLevel = this.store.getMeta("alarmLevel") || null;
  }

  private restore(): void {
    const d = this.state.days();
    this.state.restore(this.store.gateCounts(d.previous.fromMs, d.today.toMs));
    this.state.restoreSeqStats("today", this.store.seqStats(d.today.fromMs, d.today.toMs));
    this.state.restoreSeqStats("previous", this.store.seqStats(d.previous.fromMs, d.previous.toMs));
  }

  start(): void {
    const c = this.config.mqtt;
    const read = (p: string | undefined) => (p ? readFileSync(p) : undefined);
    const opts: IClientOptions = {
      clientId: siteClientId(this.config),
      protocolVersion: c.protocolVersion,
      // the broker keeps the subscriptions and queues QoS 1 messages while this process is away
      clean: false,
      ...(c.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 7 * 86_400 } } : {}),
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: 1000,
      reconnectOnConnackError: true,
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.tls.ca ? { ca: read(c.tls.ca) } : {}),
      ...(c.tls.cert ? { cert: read(c.tls.cert), key: read(c.tls.key) } : {}),
      rejectUnauthorized: c.tls.rejectUnauthorized,
    };
    const client = mqtt.connect(c.url, opts);
    this.client = client;
    // Acknowledged (PUBACK) only after the interval is committed: a kill before that leaves it
    // with the broker, which delivers it again; the (device, seq) key drops the second copy.
    client.handleMessage = (packet, done) => {
      try {
        this.handle(packet);
        done();
      } catch (err) {
        // not acknowledged: the broker keeps the interval for the next start
        this.options.log.error(
          { err: (err as Error).message },
          "site database failed; stopping without acknowledging",
        );
        this.lastError = (err as Error).message;
        client.end(true);
        this.fail(this.lastError);
      }
    };
    client.on("connect", (connack) => {
      this.lastError = null;
      this.options.log.info({ sessionPresent: connack.sessionPresent }, "connected to the broker");
      const subs: Record<string, { qos: 1 }> = {};
      for (const d of this.state.devices()) {
        subs[`${c.baseTopic}/${d}/counts`] = { qos: 1 };
        subs[`${c.baseTopic}/${d}/status`] = { qos: 1 };
      }
      client.subscribe(subs, (err) => {
        if (err) this.options.log.error({ err: err.message }, "subscribe failed");
      });
      this.schedulePublish();
    });
    client.on("error", (err) => {
      const message = describeMqttError(err as Error & { code?: number | string });
      // retried every second: logged when the reason changes, not at every attempt
      if (message !== this.lastError) this.options.log.warn({ err: message }, "broker");
      this.lastError = message;
    });
    this.heartbeat = setInterval(() => this.publishNow(), HEARTBEAT_MS);
  }

  private handle(packet: IPublishPacket): void {
    const topic = packet.topic;
    const payload = packet.payload.toString();
    const nowMs = this.now();
    if (topic.endsWith("/status")) {
      const s = readStatusMessage(payload);
      if (typeof s === "string") this.options.log.warn({ topic, reason: s }, "status ignored");
      else this.state.addStatus(s, nowMs);
      this.schedulePublish();
      return;
    }
    const iv = readCountsMessage(payload);
    if (typeof iv === "string") {
      this.received.rejected++;
      this.options.log.warn({ topic, reason: iv }, "interval ignored");
      return;
    }
    this.received.intervals++;
    const gates = this.state.gateCounts(iv);
    const added = this.store.add(iv, payload, gates, nowMs);
    if (added === "duplicate") {
      this.received.duplicates++;
      return;
    }
    if (added === "seq-reused")
      this.options.log.warn(
        { device: iv.deviceId, seq: iv.seq },
        "the device numbers its intervals from the start again (was its database replaced?); counted, but its missingIntervals are meaningless today",
      );
    this.state.addInterval(iv, gates, nowMs);
    this.schedulePublish();
  }

  private schedulePublish(): void {
    if (this.publishTimer) return;
    const wait = Math.max(0, this.lastPublishMs + PUBLISH_MIN_GAP_MS - this.now());
    this.publishTimer = setTimeout(() => {
      this.publishTimer = undefined;
      this.publishNow();
    }, wait);
  }

  private publishNow(): void {
    const nowMs = this.now();
    if (this.state.rollTo(nowMs)) {
      const retentionMs = this.config.storage.retentionDays * 86_400_000;
      this.store.prune(nowMs - retentionMs);
      this.options.log.info({ previousDay: this.latest?.dayStart }, "daily reset");
    }
    const { site, alarm } = this.state.snapshot(nowMs);
    site.gates.forEach((g, i) => {
      const before = this.latest?.gates[i]?.state;
      if (before !== undefined && before !== g.state)
        this.options.log[g.state === "ok" ? "info" : "warn"](
          { gate: g.gate, device: g.device, state: g.state, was: before, scene: g.scene },
          "gate state",
        );
    });
    this.latest = site;
    if (alarm) {
      this.store.setMeta("alarmLevel", alarm.level ?? "");
      this.pendingAlarm = alarm;
      this.options.log.warn({ alarm: alarm.level, occupancy: alarm.occupancy }, "capacity alarm");
    }
    this.lastPublishMs = nowMs;
    const client = this.client;
    if (!client?.connected) return; // published on (re)connect: retained, only the latest matters
    client.publish(this.topics.occupancy, JSON.stringify(site), { qos: 1, retain: true });
    if (this.pendingAlarm) {
      client.publish(this.topics.alarm, JSON.stringify(this.pendingAlarm), { qos: 1, retain: true });
      this.pendingAlarm = null;
    }
  }

  private api: FastifyInstance | undefined;

  /** Serves the Site page (api.enabled); resolves with its address, or undefined when it is off. */
  async startApi(): Promise<string | undefined> {
    const a = this.config.api;
    if (!a.enabled) return undefined;
    const { buildSiteApi } = await import("./site-api.ts");
    this.api = buildSiteApi(
      this.config,
      {
        latest: () => this.latest,
        csv: (bucket) => {
          const today = this.state.days().today;
          return siteCsv(this.store, bucket, today.fromMs, today.toMs);
        },
        brokerConnected: () => this.brokerConnected,
      },
      this.options.log,
    );
    try {
      return await this.api.listen({ host: a.host, port: a.port });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new Error(
        e.code === "EADDRINUSE"
          ? `api.port: ${a.host}:${a.port} is already in use by another process; choose another api.port or set api.enabled: false`
          : `api: ${e.message}`,
      );
    }
  }

  get brokerConnected(): boolean {
    return this.client?.connected === true;
  }

  /** Stops without unsubscribing: the broker keeps queueing the gates' intervals for the next start. */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    clearTimeout(this.publishTimer);
    this.publishTimer = undefined;
    if (this.client?.connected) this.publishNow();
    await this.api?.close();
    await this.client?.endAsync();
    this.store.close();
  }
}
