import type { CountKey } from "../domain/crossing-totals.ts";

/** The groups a city asks about; "vehicle total" is car + bus + truck whatever the class split. */
export const MODE_GROUPS: Readonly<Record<string, readonly string[]>> = {
  pedestrian: ["pedestrian"],
  cyclist: ["cyclist"],
  car: ["car"],
  "truck/bus": ["truck", "bus"],
  motorcyclist: ["motorcyclist"],
  "vehicle total": ["car", "bus", "truck"],
};

export interface ModeRow {
  readonly line: string;
  /** `from>to` */
  readonly direction: string;
  readonly mode: string;
  readonly counted: number;
  readonly truth: number;
}

export interface GroupScore {
  readonly counted: number;
  readonly truth: number;
  /** 1 − Σ|counted − truth| / Σ truth over the group's line × direction rows; null without truth. */
  readonly accuracy: number | null;
}

export interface ModeScores {
  readonly rows: readonly ModeRow[];
  readonly groups: Readonly<Record<string, GroupScore>>;
  /** Per line × direction, |Σ counted − Σ truth| over all modes: road users missed or invented. */
  readonly countingErrors: number;
  /** Road users counted on the right line and direction but as another mode (car ↔ truck, …). */
  readonly classErrors: number;
  readonly totalTruth: number;
  /** 1 − Σ|counted − truth| / Σ truth over every line × direction × mode. */
  readonly accuracy: number;
}

function split(key: string): { line: string; direction: string; mode: string } {
  const a = key.indexOf(":");
  const b = key.lastIndexOf(":");
  return { line: key.slice(0, a), direction: key.slice(a + 1, b), mode: key.slice(b + 1) };
}

/** Scores counts per line × direction × mode against the truth, per mode group. */
export function scoreModes(
  counted: ReadonlyMap<CountKey, number>,
  truth: ReadonlyMap<CountKey, number>,
): ModeScores {
  const keys = [...new Set([...truth.keys(), ...counted.keys()])].sort();
  const rows: ModeRow[] = keys.map((k) => ({
    ...split(k),
    counted: counted.get(k) ?? 0,
    truth: truth.get(k) ?? 0,
  }));
  const groups: Record<string, GroupScore> = {};
  for (const [name, modes] of Object.entries(MODE_GROUPS)) {
    // a group is scored on the sum of its modes per line and direction: a truck counted as a bus
    // is right for "truck/bus", and a van called truck is right for "vehicle total"
    const perDirection = new Map<string, { c: number; t: number }>();
    for (const r of rows) {
      if (!modes.includes(r.mode)) continue;
      const k = `${r.line}:${r.direction}`;
      const v = perDirection.get(k) ?? { c: 0, t: 0 };
      v.c += r.counted;
      v.t += r.truth;
      perDirection.set(k, v);
    }
    const vs = [...perDirection.values()];
    const t = vs.reduce((s, v) => s + v.t, 0);
    const c = vs.reduce((s, v) => s + v.c, 0);
    const err = vs.reduce((s, v) => s + Math.abs(v.c - v.t), 0);
    groups[name] = { counted: c, truth: t, accuracy: t > 0 ? 1 - err / t : null };
  }
  let countingErrors = 0;
  let classErrors = 0;
  const byDirection = new Map<string, ModeRow[]>();
  for (const r of rows) {
    const k = `${r.line}:${r.direction}`;
    byDirection.set(k, [...(byDirection.get(k) ?? []), r]);
  }
  for (const rs of byDirection.values()) {
    const net = Math.abs(rs.reduce((s, r) => s + r.counted - r.truth, 0));
    const gross = rs.reduce((s, r) => s + Math.abs(r.counted - r.truth), 0);
    countingErrors += net;
    // each road user given the wrong mode is one too many in one row and one too few in another
    classErrors += (gross - net) / 2;
  }
  const totalTruth = rows.reduce((s, r) => s + r.truth, 0);
  const totalErr = rows.reduce((s, r) => s + Math.abs(r.counted - r.truth), 0);
  return {
    rows,
    groups,
    countingErrors,
    classErrors,
    totalTruth,
    accuracy: totalTruth > 0 ? 1 - totalErr / totalTruth : Number.NaN,
  };
}
