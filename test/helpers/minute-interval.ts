import type { IntervalCounts, LineCount, ZoneCount } from "../../edge/domain/types.ts";

/** A whole minute counted at 10 fps without a loss, from `startMs`: a stored interval for tests. */
export function minuteInterval(
  deviceId: string,
  startMs: number,
  lines: readonly LineCount[],
  zones: readonly ZoneCount[] = [],
): IntervalCounts {
  return {
    deviceId,
    startMs,
    endMs: startMs + 60_000,
    partial: false,
    quality: {
      coverageSec: 60,
      framesProcessed: 600,
      meanFps: 10,
      framesDropped: 0,
      framesCorrupt: 0,
      cameraStateChanges: 0,
      cameraDownSec: 0,
      geometryChanged: false,
    },
    lines,
    zones,
  };
}
