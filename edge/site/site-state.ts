import type {
  AlarmMessage,
  GateReport,
  GateState,
  ReceivedInterval,
  ReceivedStatus,
  SiteMessage,
  ZoneReport,
} from "./messages.ts";
import { dayStartAtOrBefore, nextDayStart, type ResetTime } from "./reset.ts";
import type { GateConfig, SiteConfig } from "./schema.ts";
import { SITE_SCHEMA_VERSION } from "./site-message.ts";
import type { GateCount, StoredGateCount } from "./site-store.ts";

const iso = (ms: number | null | undefined): string | null =>
  ms == null ? null : new Date(ms).toISOString();

/** One day (reset to reset) of the site: entries and exits per interval start, per gate, per device's seq. */
class SiteDay {
  /** interval start -> entries and exits of every gate in intervals starting then */
  readonly byStart = new Map<number, { entered: number; exited: number; endMs: number }>();
  readonly perGate = new Map<string, { entered: number; exited: number }>();
  readonly seqs = new Map<string, { count: number; minSeq: number; maxSeq: number }>();

  constructor(
    readonly startMs: number,
    readonly endMs: number,
  ) {}

  contains(ms: number): boolean {
    return ms >= this.startMs && ms < this.endMs;
  }

  addSeq(device: string, seq: number, count = 1, maxSeq = seq): void {
    const s = this.seqs.get(device);
    if (!s) this.seqs.set(device, { count, minSeq: seq, maxSeq });
    else {
      s.count += count;
      s.minSeq = Math.min(s.minSeq, seq);
      s.maxSeq = Math.max(s.maxSeq, maxSeq);
    }
  }

  addGate(g: GateCount): void {
    const b = this.byStart.get(g.startMs);
    if (b) {
      b.entered += g.entered;
      b.exited += g.exited;
      b.endMs = Math.max(b.endMs, g.endMs);
    } else this.byStart.set(g.startMs, { entered: g.entered, exited: g.exited, endMs: g.endMs });
    const t = this.perGate.get(g.gate);
    if (t) {
      t.entered += g.entered;
      t.exited += g.exited;
    } else this.perGate.set(g.gate, { entered: g.entered, exited: g.exited });
  }

  /**
   * Occupancy walked through the day interval by interval in time order: entries minus exits, held
   * at zero where it would go below (each time counted as a clamp), with its peak.
   */
  walk(): {
    occupancy: number;
    entered: number;
    exited: number;
    clamps: number;
    peak: number;
    peakAtMs: number | null;
    lastEndMs: number | null;
  } {
    let occupancy = 0;
    let entered = 0;
    let exited = 0;
    let clamps = 0;
    let peak = 0;
    let peakAtMs: number | null = null;
    let lastEndMs: number | null = null;
    for (const start of [...this.byStart.keys()].sort((a, b) => a - b)) {
      const b = this.byStart.get(start)!;
      entered += b.entered;
      exited += b.exited;
      occupancy += b.entered - b.exited;
      if (occupancy < 0) {
        occupancy = 0;
        clamps++;
      }
      if (occupancy > peak) {
        peak = occupancy;
        peakAtMs = b.endMs;
      }
      lastEndMs = Math.max(lastEndMs ?? 0, b.endMs);
    }
    return { occupancy, entered, exited, clamps, peak, peakAtMs, lastEndMs };
  }
}

interface GateLive {
  lastReceivedMs: number | null;
  lastEndMs: number | null;
  periodSec: number | null;
  coverage: number | null;
  status: ReceivedStatus | null;
  statusReceivedMs: number | null;
  state: GateState;
  sinceMs: number;
}

/** The site's figures, kept in memory for today and the day before, fed by the devices' intervals. */
export class SiteState {
  private readonly reset: ResetTime;
  private readonly gatesByDevice = new Map<string, GateConfig[]>();
  private readonly modes: ReadonlySet<string> | null;
  private readonly live = new Map<string, GateLive>();
  private readonly zoneLatest = new Map<string, { mean: number; max: number; endMs: number }>();
  private today: SiteDay;
  private previous: SiteDay;
  private partialSinceMs: number | null = null;
  alarmLevel: string | null = null;

  constructor(
    readonly config: SiteConfig,
    startedMs: number,
  ) {
    this.reset = {
      time: config.reset.time,
      timeZone: config.reset.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
    };
    for (const g of config.gates) {
      const list = this.gatesByDevice.get(g.device) ?? [];
      list.push(g);
      this.gatesByDevice.set(g.device, list);
      this.live.set(g.name, {
        lastReceivedMs: null,
        lastEndMs: null,
        periodSec: null,
        coverage: null,
        status: null,
        statusReceivedMs: null,
        state: "unknown",
        sinceMs: startedMs,
      });
    }
    this.modes = config.modes ? new Set(config.modes) : null;
    const start = dayStartAtOrBefore(startedMs, this.reset);
    this.today = new SiteDay(start, nextDayStart(start, this.reset));
    const prevStart = dayStartAtOrBefore(start - 1, this.reset);
    this.previous = new SiteDay(prevStart, start);
  }

  /** Devices whose messages the site needs. */
  devices(): string[] {
    return [...this.gatesByDevice.keys(), ...this.config.zones.map((z) => z.device)].filter(
      (d, i, all) => all.indexOf(d) === i,
    );
  }

  /** The two days the in-memory state holds. */
  days(): { today: { fromMs: number; toMs: number }; previous: { fromMs: number; toMs: number } } {
    return {
      today: { fromMs: this.today.startMs, toMs: this.today.endMs },
      previous: { fromMs: this.previous.startMs, toMs: this.previous.endMs },
    };
  }

  /** What an interval means for each gate on its device: crossings towards `in` enter, the others exit. */
  gateCounts(iv: ReceivedInterval): GateCount[] {
    const gates = this.gatesByDevice.get(iv.deviceId);
    if (!gates) return [];
    return gates.map((g) => {
      let entered = 0;
      let exited = 0;
      for (const l of iv.lines) {
        if (l.line !== g.line || (this.modes && !this.modes.has(l.mode))) continue;
        if (l.to === g.in) entered += l.count;
        else if (l.from === g.in) exited += l.count;
      }
      return { gate: g.name, startMs: iv.startMs, endMs: iv.endMs, entered, exited };
    });
  }

  /** Restores the counts stored for today and the day before (after a restart). */
  restore(rows: readonly StoredGateCount[]): void {
    for (const r of rows) this.dayOf(r.startMs)?.addGate(r);
  }

  restoreSeqStats(
    day: "today" | "previous",
    stats: readonly { device: string; count: number; minSeq: number; maxSeq: number }[],
  ): void {
    for (const s of stats)
      (day === "today" ? this.today : this.previous).addSeq(s.device, s.minSeq, s.count, s.maxSeq);
  }

  private dayOf(ms: number): SiteDay | undefined {
    if (this.today.contains(ms)) return this.today;
    if (this.previous.contains(ms)) return this.previous;
    return undefined;
  }

  /** A new interval (not a duplicate): counted into its day if that is today or the day before. */
  addInterval(iv: ReceivedInterval, gates: readonly GateCount[], receivedMs: number): void {
    for (const g of this.gatesByDevice.get(iv.deviceId) ?? []) {
      const l = this.live.get(g.name)!;
      l.lastReceivedMs = receivedMs;
      // a backlog arriving late says the device is back, but not how well it sees now
      if (l.lastEndMs === null || iv.endMs >= l.lastEndMs) {
        l.lastEndMs = iv.endMs;
        l.periodSec = iv.periodSec;
        l.coverage = iv.coverage;
      }
    }
    for (const z of this.config.zones) {
      if (z.device !== iv.deviceId) continue;
      const prev = this.zoneLatest.get(z.name);
      if (prev && prev.endMs > iv.endMs) continue;
      const rows = iv.zones.filter((c) => c.zone === z.zone && (!this.modes || this.modes.has(c.mode)));
      this.zoneLatest.set(z.name, {
        mean: rows.reduce((s, c) => s + c.occupancyMean, 0),
        max: rows.reduce((s, c) => s + c.occupancyMax, 0),
        endMs: iv.endMs,
      });
    }
    const day = this.dayOf(iv.startMs);
    if (!day) return;
    day.addSeq(iv.deviceId, iv.seq);
    for (const g of gates) day.addGate(g);
  }

  addStatus(s: ReceivedStatus, receivedMs: number): void {
    for (const g of this.gatesByDevice.get(s.deviceId) ?? []) {
      const l = this.live.get(g.name)!;
      l.status = s;
      l.statusReceivedMs = receivedMs;
    }
  }

  /** Moves to the next day once its reset has passed; true if it did. */
  rollTo(nowMs: number): boolean {
    if (nowMs < this.today.endMs) return false;
    const start = dayStartAtOrBefore(nowMs, this.reset);
    this.previous =
      this.today.endMs === start ? this.today : new SiteDay(dayStartAtOrBefore(start - 1, this.reset), start);
    this.today = new SiteDay(start, nextDayStart(start, this.reset));
    return true;
  }

  nextResetMs(): number {
    return this.today.endMs;
  }

  private gateState(l: GateLive, nowMs: number): GateState {
    const heardMs = l.lastReceivedMs ?? l.statusReceivedMs;
    if (heardMs === null) return "unknown";
    if (l.status && !l.status.online) return "offline";
    // no interval for more than offlineAfterIntervals of the device's intervals (60 s before the first)
    if (nowMs - heardMs > (l.periodSec ?? 60) * 1000 * this.config.offlineAfterIntervals) return "offline";
    if (l.status?.cameraDown || (l.status?.sceneStates.length ?? 0) > 0) return "blind";
    if (l.coverage !== null && l.coverage < this.config.minCoverage) return "blind";
    return "ok";
  }

  /** The site now; updates gate states, partial-since and the alarm level as a side effect. */
  snapshot(nowMs: number): { site: SiteMessage; alarm: AlarmMessage | null } {
    const c = this.config;
    const gates: GateReport[] = c.gates.map((g) => {
      const l = this.live.get(g.name)!;
      const state = this.gateState(l, nowMs);
      if (state !== l.state) {
        l.state = state;
        l.sinceMs = nowMs;
      }
      const t = this.today.perGate.get(g.name);
      const s = this.today.seqs.get(g.device);
      return {
        gate: g.name,
        device: g.device,
        line: g.line,
        entered: t?.entered ?? 0,
        exited: t?.exited ?? 0,
        state,
        since: iso(l.sinceMs),
        scene: [...(l.status?.sceneStates ?? [])],
        coverage: l.coverage === null ? null : Math.round(l.coverage * 1000) / 1000,
        lastIntervalEnd: iso(l.lastEndMs),
        intervals: s?.count ?? 0,
        missingIntervals: s ? Math.max(0, s.maxSeq - s.minSeq + 1 - s.count) : 0,
      };
    });
    const partial = gates.some((g) => g.state !== "ok");
    if (!partial) this.partialSinceMs = null;
    else if (this.partialSinceMs === null)
      this.partialSinceMs = Math.min(
        ...gates.filter((g) => g.state !== "ok").map((g) => Date.parse(g.since!)),
      );
    const w = this.today.walk();
    const p = this.previous.walk();
    const zones: ZoneReport[] = c.zones.map((z) => {
      const latest = this.zoneLatest.get(z.name);
      return {
        zone: z.name,
        device: z.device,
        occupancyMean: latest?.mean ?? 0,
        occupancyMax: latest?.max ?? 0,
        intervalEnd: iso(latest?.endMs),
      };
    });
    const alarm = this.evaluateAlarm(w.occupancy, partial, nowMs);
    const site: SiteMessage = {
      type: "site",
      schemaVersion: SITE_SCHEMA_VERSION,
      siteId: c.site.id,
      name: c.site.name,
      dayStart: iso(this.today.startMs)!,
      occupancy: w.occupancy,
      partial,
      partialSince: iso(this.partialSinceMs),
      entered: w.entered,
      exited: w.exited,
      clamps: w.clamps,
      peak: { occupancy: w.peak, at: iso(w.peakAtMs) },
      capacity: c.capacity ?? null,
      alarm: this.alarmLevel,
      lastIntervalEnd: iso(w.lastEndMs),
      gates,
      zones,
      previousDay:
        this.previous.byStart.size === 0
          ? null
          : {
              dayStart: iso(this.previous.startMs)!,
              dayEnd: iso(this.previous.endMs)!,
              entered: p.entered,
              exited: p.exited,
              drift: p.entered - p.exited,
              clamps: p.clamps,
            },
      ts: iso(nowMs)!,
    };
    return { site, alarm };
  }

  /** The highest level reached, left only below it minus alarmClearPercent; a message when it changes. */
  private evaluateAlarm(occupancy: number, partial: boolean, nowMs: number): AlarmMessage | null {
    const c = this.config;
    if (c.capacity === undefined) return null;
    const percent = (occupancy / c.capacity) * 100;
    let level: string | null = null;
    for (const a of c.alarms) {
      const held =
        a.name === this.alarmLevel ||
        c.alarms.findIndex((x) => x.name === this.alarmLevel) > c.alarms.indexOf(a);
      if (percent >= a.atPercent || (held && percent >= a.atPercent - c.alarmClearPercent)) level = a.name;
    }
    if (level === this.alarmLevel) return null;
    const previousLevel = this.alarmLevel;
    this.alarmLevel = level;
    return {
      type: "alarm",
      schemaVersion: SITE_SCHEMA_VERSION,
      siteId: c.site.id,
      level,
      previousLevel,
      occupancy,
      capacity: c.capacity,
      percent: Math.round(percent * 10) / 10,
      partial,
      ts: iso(nowMs)!,
    };
  }
}
