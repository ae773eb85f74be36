import type { Static } from "@sinclair/typebox";
import type { LineCountSchema, QualitySchema, ZoneCountSchema } from "./counts.ts";
import type { ViewRect } from "./view.ts";

/** Values that flow between pipeline stages. Time is epoch milliseconds unless a name says otherwise. */

/** An axis-aligned box in source-image pixels, top-left origin. */
export interface Box {
  readonly x1: number;
  readonly y1: number;
  readonly x2: number;
  readonly y2: number;
}

/** A camera frame as it leaves the capture stage: either an encoded image or raw interleaved RGB. */
export type FramePixels =
  | { readonly kind: "encoded"; readonly data: Buffer }
  | { readonly kind: "rgb"; readonly data: Buffer; readonly width: number; readonly height: number };

export interface Frame {
  /** Monotonically increasing per source. */
  readonly seq: number;
  /** Wall-clock capture time (epoch ms). */
  readonly tsMs: number;
  /** Monotonic capture time (ms), immune to clock steps. */
  readonly monoMs: number;
  /** Size of the scene the frame shows, in the pixels that box coordinates refer to. */
  readonly width: number;
  readonly height: number;
  /**
   * The part of the scene the pixels show, when the capture stage cropped them to the detection
   * region; absent: all of it.
   */
  readonly view?: ViewRect;
  readonly pixels: FramePixels;
}

/** One object found in one frame, after thresholding and NMS, in source-image pixels. */
export interface Detection {
  /** Class index in the model's label list (COCO ids for the bundled models). */
  readonly classId: number;
  readonly label: string;
  readonly score: number;
  readonly box: Box;
}

export interface Point {
  readonly x: number;
  readonly y: number;
}

export type TrackState = "tentative" | "confirmed" | "lost" | "removed";

/**
 * A tracked object. Lives only inside the process: track ids, boxes and trajectories never leave it.
 * Velocity is in source pixels per second.
 */
export interface Track {
  readonly id: number;
  readonly box: Box;
  readonly velocity: Point;
  /** The detector label that won the vote over the track's life. */
  readonly category: string;
  /** Per label, over the track's life: the sum of score × box height × the class's prior. */
  readonly categoryVotes: ReadonlyMap<string, number>;
  readonly state: TrackState;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** Frames in which a detection was matched to the track. */
  readonly hits: number;
  /**
   * Where the object was first seen: the box of its first detection, or of an earlier weak one that
   * leads to it (an object fading in, too faint to start a track). Counting starts from here.
   */
  readonly origin: Sighting;
}

/** A box at a moment. */
export interface Sighting {
  readonly box: Box;
  readonly tsMs: number;
}

/** What the tracker hands to the next stages after each frame. */
export interface TrackUpdate {
  readonly tsMs: number;
  /** Tentative, confirmed and lost tracks (lost ones keep their predicted box). */
  readonly tracks: readonly Track[];
  /** Tracks that ended with this frame; downstream state for them can be freed. */
  readonly removed: readonly Track[];
}

/** How a road user travels, after person + bicycle fusion and category grouping. */
export type Mode = string;

/** A tracked road user as the counting stage sees it. */
export interface RoadUser {
  readonly trackId: number;
  readonly box: Box;
  readonly mode: Mode;
  readonly confirmed: boolean;
  /** False while lost: the box is a prediction, not a detection. */
  readonly seen: boolean;
  /** Where the road user was first seen, when that was before its track began (see `Track.origin`). */
  readonly origin?: Sighting;
  /**
   * The box's bottom is an estimate: the detector's box ended above the feet (hidden by a nearer
   * road user or cut by an occluder or the picture's edge) and the whole extent was restored from
   * the track's history.
   */
  readonly estimated?: boolean;
}

export interface Crossing {
  readonly line: string;
  readonly from: string;
  readonly to: string;
  readonly mode: Mode;
  readonly tsMs: number;
  /** The anchor's path over the line rested on an estimated extent (see `RoadUser.estimated`). */
  readonly estimated?: boolean;
}

export interface ZoneEvent {
  readonly zone: string;
  readonly kind: "enter" | "exit";
  readonly mode: Mode;
  readonly tsMs: number;
  /** Time spent inside, on exit. */
  readonly dwellSec: number | null;
  /** On exit: whether the dwell reached the zone's threshold. */
  readonly staying: boolean | null;
}

/** Counts over one line, direction and mode in one interval. */
export type LineCount = Readonly<Static<typeof LineCountSchema>>;

/**
 * One zone and mode in one interval. Dwell figures cover visitors who left during the interval;
 * occupancy is the time-weighted mean and maximum of the number inside.
 */
export type ZoneCount = Readonly<Static<typeof ZoneCountSchema>>;

/** How much of the interval the device actually saw, so zeros are never mistaken for "nobody passed". */
export type IntervalQuality = Readonly<Static<typeof QualitySchema>>;

/** The aggregate the device publishes: nothing per person, no ids, no boxes, no trajectories. */
export interface IntervalCounts {
  readonly deviceId: string;
  readonly startMs: number;
  readonly endMs: number;
  /** The device did not observe the whole interval (it started or stopped inside it). */
  readonly partial: boolean;
  readonly quality: IntervalQuality;
  readonly lines: readonly LineCount[];
  readonly zones: readonly ZoneCount[];
}
