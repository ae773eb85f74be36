/**
 * The site's day: from one daily reset (a wall-clock time in a time zone, e.g. 06:00 when the grounds
 * are empty) to the next. Days are 23 or 25 hours long across a daylight-saving change.
 */

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(tz, f);
  }
  return f;
}

/** The wall-clock date and time at `ms` in `tz`, as if it were UTC. */
function wallClockAsUtc(ms: number, tz: string): number {
  const p: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(new Date(ms))) p[part.type] = Number(part.value);
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
}

export interface ResetTime {
  readonly time: string;
  readonly timeZone: string;
}

/** The latest reset at or before `ms`. */
export function dayStartAtOrBefore(ms: number, reset: ResetTime): number {
  const [hh, mm] = reset.time.split(":").map(Number) as [number, number];
  const wall = new Date(wallClockAsUtc(ms, reset.timeZone));
  const at = (dayOffset: number): number => {
    const wallReset = Date.UTC(
      wall.getUTCFullYear(),
      wall.getUTCMonth(),
      wall.getUTCDate() + dayOffset,
      hh,
      mm,
    );
    // the zone's offset at the guess, then again at the corrected instant (DST changes in between)
    let instant = wallReset - (wallClockAsUtc(wallReset, reset.timeZone) - wallReset);
    instant = wallReset - (wallClockAsUtc(instant, reset.timeZone) - instant);
    return instant;
  };
  const today = at(0);
  return today <= ms ? today : at(-1);
}

/** The first reset after `dayStart` (itself a reset). */
export function nextDayStart(dayStart: number, reset: ResetTime): number {
  // 36 h after a reset is inside the next day whatever daylight saving does
  return dayStartAtOrBefore(dayStart + 36 * 3_600_000, reset);
}
