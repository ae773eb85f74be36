import { type CountsMessage, countsMessage } from "../../edge/publish/messages.ts";

/**
 * A gate device's counts message for one minute, as a device renders it: `entered` walkers crossed
 * its line `gate` from `outSide` to `inSide`, `exited` the other way. For site tests and the site bench.
 */
export function gateCountsMessage(o: {
  readonly device: string;
  readonly seq: number;
  readonly startMs: number;
  readonly entered: number;
  readonly exited: number;
  readonly inSide?: string;
  readonly outSide?: string;
  readonly coverageSec?: number;
  /** More line rows (other lines the site must ignore). */
  readonly more?: CountsMessage["lines"];
}): CountsMessage {
  const inSide = o.inSide ?? "south";
  const outSide = o.outSide ?? "north";
  return countsMessage(
    {
      deviceId: o.device,
      startMs: o.startMs,
      endMs: o.startMs + 60_000,
      partial: false,
      quality: {
        coverageSec: o.coverageSec ?? 60,
        framesProcessed: 600,
        meanFps: 10,
        framesDropped: 0,
        framesCorrupt: 0,
        cameraStateChanges: 0,
        cameraDownSec: 0,
        geometryChanged: false,
      },
      lines: [
        { line: "gate", from: outSide, to: inSide, mode: "pedestrian", count: o.entered },
        { line: "gate", from: inSide, to: outSide, mode: "pedestrian", count: o.exited },
        ...(o.more ?? []),
      ],
      zones: [],
    },
    o.seq,
    { id: o.device, name: "", latitude: 55.6, longitude: 12.5 },
  );
}
