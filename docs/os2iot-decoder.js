/**
 * OS2iot payload decoder for the edge counter (paste into OS2iot: Payload decoders -> new).
 *
 * The counter publishes to OS2iot's MQTT receiver on devices/{organizationId}/{applicationId}/{deviceId}
 * with mqtt.os2iot set in its configuration. Counts and status share the topic; `type` tells them apart.
 * This decoder flattens a counts message into one object with a key per line, direction and mode,
 * e.g. "gate:north>south:pedestrian": 12, and zone figures as "square:pedestrian:entries": 3.
 * With mqtt.format: ngsi-ld the counter sends FIWARE Smart Data Models entities (TrafficFlowObserved,
 * CrowdFlowObserved); the decoder then returns that array of entities as it is, ready for OS2iot's
 * FIWARE data target (an NGSI-LD batch upsert), so that dashboards built on the models can query them.
 */
// biome-ignore lint/correctness/noUnusedVariables: OS2iot calls decode() by name
function decode(payload, metadata) {
  const m = typeof payload === "string" ? JSON.parse(payload) : payload;
  if (!m || typeof m !== "object") return { error: "not a JSON object" };
  if (m.type === "status") {
    return {
      type: "status",
      deviceId: m.deviceId,
      online: m.online,
      camera: m.camera ? m.camera.state : null,
      processedFps: m.processedFps,
      outboxDepth: m.outboxDepth,
      storageError: m.storageError,
      // the scene states raised now, comma-separated ("" when it sees; null when not reported)
      scene: m.scene ? m.scene.states.join(",") : null,
      ts: m.ts,
    };
  }
  if (m.type !== "counts") return { error: "unknown message type " + m.type };
  if (Array.isArray(m.entities)) return m.entities;
  const out = {
    type: "counts",
    id: m.id,
    seq: m.seq,
    deviceId: m.deviceId,
    intervalStart: m.intervalStart,
    intervalEnd: m.intervalEnd,
    partial: m.partial,
    coverageSec: m.quality ? m.quality.coverageSec : null,
    cameraDownSec: m.quality ? m.quality.cameraDownSec : null,
    coverage: m.quality && m.quality.coverage !== undefined ? m.quality.coverage : null,
    blindSec: m.quality && m.quality.blindSec !== undefined ? m.quality.blindSec : null,
    latitude: m.location ? m.location.latitude : null,
    longitude: m.location ? m.location.longitude : null,
  };
  const scene = m.quality?.scene || {};
  for (const k of Object.keys(scene)) out["scene:" + k] = scene[k];
  for (const l of m.lines || []) out[l.line + ":" + l.from + ">" + l.to + ":" + l.mode] = l.count;
  for (const z of m.zones || []) {
    const k = z.zone + ":" + z.mode + ":";
    out[k + "entries"] = z.entries;
    out[k + "exits"] = z.exits;
    out[k + "occupancyMean"] = z.occupancyMean;
    out[k + "occupancyMax"] = z.occupancyMax;
    out[k + "staying"] = z.staying;
    out[k + "passing"] = z.passing;
    out[k + "dwellP50Sec"] = z.dwellP50Sec;
    out[k + "dwellP90Sec"] = z.dwellP90Sec;
  }
  if (metadata?.name) out.deviceName = metadata.name;
  return out;
}
