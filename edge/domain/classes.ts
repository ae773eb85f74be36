/**
 * The one table of road-user classes: which detector label belongs to which family (the tracker
 * never lets a box of one family continue a track of another) and which mode of travel it is
 * counted as by default. Tracker, mode of travel, configuration defaults and detector defaults all
 * read it from here.
 */

export type Family = "person" | "two-wheeler" | "vehicle";

/** The modes the counter reports out of the box; `counting.modes` may map classes to others. */
export type DefaultMode = "pedestrian" | "cyclist" | "motorcyclist" | "car" | "bus" | "truck";

export interface RoadUserClass {
  /** The detector's label (COCO names for the bundled models). */
  readonly label: string;
  readonly family: Family;
  readonly mode: DefaultMode;
}

export const ROAD_USER_CLASSES: readonly RoadUserClass[] = [
  { label: "person", family: "person", mode: "pedestrian" },
  { label: "bicycle", family: "two-wheeler", mode: "cyclist" },
  { label: "car", family: "vehicle", mode: "car" },
  { label: "motorcycle", family: "two-wheeler", mode: "motorcyclist" },
  { label: "bus", family: "vehicle", mode: "bus" },
  { label: "truck", family: "vehicle", mode: "truck" },
];

/** Labels the detector keeps by default: every road-user class. */
export const DEFAULT_COUNTED_CLASSES: readonly string[] = ROAD_USER_CLASSES.map((c) => c.label);

/** Family per label; a label not in the table is a family of its own. */
export const FAMILY_OF: Readonly<Record<string, Family>> = Object.fromEntries(
  ROAD_USER_CLASSES.map((c) => [c.label, c.family]),
);

/** Default mode per label (`counting.modes`'s default). */
export const DEFAULT_MODE_OF: Readonly<Record<string, DefaultMode>> = Object.fromEntries(
  ROAD_USER_CLASSES.map((c) => [c.label, c.mode]),
);

export function familyOf(label: string): string {
  return FAMILY_OF[label] ?? label;
}

export function isTwoWheeler(label: string): boolean {
  return FAMILY_OF[label] === "two-wheeler";
}

export function isPerson(label: string): boolean {
  return FAMILY_OF[label] === "person";
}

/** Default share of motorcycles among two-wheelers: Danish city streets, where cyclists abound. */
export const DEFAULT_MOTORCYCLE_SHARE = 0.1;
