import type { Static } from "@sinclair/typebox";
import type { LineCountSchema } from "./counts.ts";

/**
 * What the local API streams to the device's page, declared once for both sides (the page imports
 * these types; nothing here needs Node, so this file imports nothing with Node's types).
 */

export type LineCount = Static<typeof LineCountSchema>;

/** One crossing as the page sees it (the pipeline's `Crossing`). */
export interface LiveCrossing {
  readonly line: string;
  readonly from: string;
  readonly to: string;
  readonly mode: string;
  readonly tsMs: number;
}

/** Whether set-up mode is on, and when it began and ends (published for audit). */
export interface SetupState {
  readonly active: boolean;
  readonly since: string | null;
  readonly until: string | null;
}

export interface SetupStatus extends SetupState {
  readonly maxMinutes: number;
  /** Samples in the preview's median so far, and how many it needs. */
  readonly samples: number;
  readonly samplesNeeded: number;
}

/** One road user's position on the page: relative box (0..1), no pixels. */
export interface LivePosition {
  readonly id: number;
  readonly mode: string;
  readonly box: readonly [number, number, number, number];
  readonly seen: boolean;
}

/** What set-up subscribers receive, a few times a second. */
export interface LiveFrame {
  readonly ts: string;
  readonly positions: readonly LivePosition[];
  /** Every crossing since the previous message (none is dropped by the throttle). */
  readonly crossings: readonly LiveCrossing[];
}

/** Aggregates for the page's live view. */
export interface LiveCounts {
  readonly totals: readonly LineCount[];
  /** Since local midnight: the stored intervals and the one in progress. */
  readonly today: readonly LineCount[];
  readonly occupancy: readonly { readonly zone: string; readonly byMode: Readonly<Record<string, number>> }[];
  readonly processedFps: number;
}
