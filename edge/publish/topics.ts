import type { Config } from "../config/schema.ts";
import type { IntervalCounts } from "../domain/types.ts";
import type { RenderedMessage } from "./delivery.ts";
import {
  countsMessage,
  type DeviceIdentity,
  messageId,
  ngsiLdEntities,
  renderPayload,
  SCHEMA_VERSION,
  type StatusMessage,
  type TopicName,
} from "./messages.ts";

/**
 * Where each message goes. Native mode: `<base>/<device>/counts` and `<base>/<device>/status`.
 * OS2iot mode: both on `devices/<organization>/<application>/<device>`, told apart by `type`.
 */
export function topicFor(config: Pick<Config, "device" | "mqtt">, name: TopicName): string {
  const os2iot = config.mqtt.os2iot;
  if (os2iot) return `devices/${os2iot.organizationId}/${os2iot.applicationId}/${config.device.id}`;
  return `${config.mqtt.baseTopic}/${config.device.id}/${name}`;
}

export function deviceIdentity(config: Pick<Config, "device">): DeviceIdentity {
  return {
    id: config.device.id,
    name: config.device.name,
    latitude: config.device.location.latitude,
    longitude: config.device.location.longitude,
  };
}

/** Renders an interval into the configured payload format. */
export function countsRenderer(
  config: Pick<Config, "device" | "mqtt" | "lines">,
  /** The lines as they are now (they can be replaced while counting). */
  lines: () => Config["lines"] = () => config.lines,
): (counts: IntervalCounts, seq: number) => RenderedMessage {
  const device = deviceIdentity(config);
  const topic = topicFor(config, "counts");
  return (counts, seq) => {
    const payload = renderPayload(
      "counts",
      config.mqtt.format === "ngsi-ld"
        ? {
            type: "counts",
            schemaVersion: SCHEMA_VERSION,
            id: messageId(counts, seq),
            seq,
            entities: ngsiLdEntities(counts, seq, device, lines()),
          }
        : countsMessage(counts, seq, device),
    );
    return { topic, payload, messageId: messageId(counts, seq) };
  };
}

/** The last will: stored by the broker at connect time and published when the connection is lost. */
export function lastWillStatus(deviceId: string, version: string): StatusMessage {
  return {
    type: "status",
    schemaVersion: SCHEMA_VERSION,
    deviceId,
    online: false,
    version,
    model: null,
    camera: { state: "unknown", since: null, lastError: null },
    processedFps: 0,
    setup: { active: false, since: null, until: null },
    outboxDepth: 0,
    storageError: null,
    ts: null,
    lastWill: true,
  };
}
