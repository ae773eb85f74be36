/**
 * Counting settings that the configuration, the counters, the API and the device's page all use,
 * declared once (no Node types and no libraries here: the page imports it).
 */

/** The points of a box that can stand for the object (`counting.anchor`). */
export const ANCHORS = ["bottom-center", "center", "top-center"] as const;
export type Anchor = (typeof ANCHORS)[number];

/** Time inside a zone above which a visitor counts as staying (`zones[].dwellThresholdSec`). */
export const DEFAULT_DWELL_THRESHOLD_SEC = 30;
