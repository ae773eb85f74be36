import { readFileSync } from "node:fs";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { renderPayload, type StatusMessage } from "./messages.ts";

export interface PublisherOptions {
  readonly url: string;
  readonly clientId: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly protocolVersion: 4 | 5;
  readonly tls: {
    readonly ca?: string | undefined;
    readonly cert?: string | undefined;
    readonly key?: string | undefined;
    readonly rejectUnauthorized: boolean;
  };
  /** Full topic of the retained status message (also the last-will topic). */
  readonly statusTopic: string;
  /** The status the broker publishes if the device vanishes. */
  readonly will: StatusMessage;
  /** Reconnect backoff bounds in ms: doubles after each failed attempt. */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  readonly onConnect?: () => void;
  readonly onError?: (message: string) => void;
  /** Applied to every payload before it leaves (status messages quote camera errors). */
  readonly redact?: (payload: string) => string;
}

/** Turns broker errors into sentences a technician can act on; never includes the password. */
export function describeMqttError(err: Error & { code?: number | string }): string {
  switch (err.code) {
    case 4:
    case 134:
      return "the broker refused the username or password (MQTT CONNACK 'bad user name or password')";
    case 5:
    case 135:
      return "the broker refused this client (MQTT CONNACK 'not authorized')";
    case 2:
    case 133:
      return "the broker refused the client id";
    case "ECONNREFUSED":
      return `connection refused: ${err.message}`;
    case "ENOTFOUND":
      return `broker host not found: ${err.message}`;
    default:
      // OpenSSL's alerts name the cause only in passing; say what to change
      if (/alert certificate required/i.test(err.message))
        return `TLS failure: the broker requires a client certificate; set mqtt.tls.cert and mqtt.tls.key (${err.message})`;
      if (
        /alert (bad certificate|unknown ca|certificate unknown|certificate expired|certificate revoked)/i.test(
          err.message,
        )
      )
        return `TLS failure: the broker refused this device's client certificate (${err.message})`;
      if (/certificate has expired/i.test(err.message))
        return `TLS failure: the broker's certificate has expired (${err.message})`;
      if (/certificate|self[- ]signed|SSL|TLS/i.test(err.message)) return `TLS failure: ${err.message}`;
      return err.message;
  }
}

/**
 * An MQTT connection for one device: client id = device id, a retained status topic with a last
 * will that marks the device offline, reconnects with exponential backoff, QoS 1 publishes that
 * resolve on PUBACK.
 */
export class MqttPublisher {
  private client: MqttClient | undefined;
  private backoffMs: number;
  lastError: string | null = null;

  constructor(readonly options: PublisherOptions) {
    this.backoffMs = options.reconnectMinMs ?? 1000;
  }

  private redact(payload: string): string {
    return this.options.redact ? this.options.redact(payload) : payload;
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  start(): void {
    const o = this.options;
    const read = (p: string | undefined) => (p ? readFileSync(p) : undefined);
    const opts: IClientOptions = {
      clientId: o.clientId,
      protocolVersion: o.protocolVersion,
      clean: true,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: this.backoffMs,
      // a refused login is retried too: the broker's password file may be fixed at any time
      reconnectOnConnackError: true,
      will: {
        topic: o.statusTopic,
        payload: Buffer.from(this.redact(renderPayload("status", o.will))),
        qos: 1,
        retain: true,
      },
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.tls.ca ? { ca: read(o.tls.ca) } : {}),
      ...(o.tls.cert ? { cert: read(o.tls.cert), key: read(o.tls.key) } : {}),
      rejectUnauthorized: o.tls.rejectUnauthorized,
    };
    const client = mqtt.connect(o.url, opts);
    this.client = client;
    client.on("connect", () => {
      this.lastError = null;
      this.backoffMs = o.reconnectMinMs ?? 1000;
      client.options.reconnectPeriod = this.backoffMs;
      o.onConnect?.();
    });
    client.on("error", (err) => {
      this.lastError = describeMqttError(err as Error & { code?: number | string });
      o.onError?.(this.lastError);
    });
    client.on("close", () => {
      // exponential backoff between reconnect attempts
      this.backoffMs = Math.min(o.reconnectMaxMs ?? 30_000, this.backoffMs * 2);
      client.options.reconnectPeriod = this.backoffMs;
    });
  }

  /**
   * Publishes a message rendered by `renderPayload` (outbox entries are stored rendered). Resolves
   * when the broker acknowledged (PUBACK); rejects if the connection fails first.
   */
  publishRendered(
    { topic, payload }: { readonly topic: string; readonly payload: string },
    retain = false,
  ): Promise<void> {
    const client = this.client;
    if (!client?.connected) return Promise.reject(new Error("not connected"));
    return new Promise<void>((resolve, reject) => {
      const onClose = () => reject(new Error("connection closed before PUBACK"));
      client.once("close", onClose);
      client.publish(topic, this.redact(payload), { qos: 1, retain }, (err) => {
        client.removeListener("close", onClose);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  publishStatus(status: StatusMessage): Promise<void> {
    return this.publishRendered(
      { topic: this.options.statusTopic, payload: renderPayload("status", status) },
      true,
    );
  }

  /**
   * Clean stop: publishes the given offline status (retained) and disconnects. If the broker does
   * not acknowledge it in time, the connection is dropped without DISCONNECT, so that the broker
   * publishes the last will instead: either way the device ends up marked offline.
   */
  async stop(offline?: StatusMessage, timeoutMs = 5000): Promise<void> {
    const client = this.client;
    if (!client) return;
    let acknowledged = false;
    if (offline && client.connected) {
      let timer: NodeJS.Timeout | undefined;
      acknowledged = await Promise.race([
        this.publishStatus(offline).then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((r) => {
          timer = setTimeout(() => r(false), timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    await client.endAsync(!acknowledged).catch(() => {});
    this.client = undefined;
  }
}
