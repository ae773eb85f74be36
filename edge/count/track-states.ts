import type { Mode } from "../domain/types.ts";

/** What every counter keeps per track, besides its own fields. */
export interface PerTrack {
  /** Seen in the last frame the track appeared in (false while the tracker only predicts it). */
  wasSeen: boolean;
}

/** Where a lost track is now thought to be: the tracker's prediction of its anchor and box height. */
export interface Whereabouts {
  readonly x: number;
  readonly y: number;
  readonly height: number;
  readonly mode: Mode;
}

/** A successor must be this alike in size (box height ratio) to take a state over. */
const MAX_SIZE_RATIO = 1.5;

interface Offer<S> {
  readonly trackId: number;
  /** Where the track was when it was lost. */
  readonly fromX: number;
  readonly fromY: number;
  x: number;
  y: number;
  height: number;
  readonly mode: Mode;
  readonly lostAtMs: number;
  readonly state: S;
  /** The tracker ended the track while the offer was open. */
  ended: boolean;
}

/**
 * Per-track counter state with the one set of rules every counter follows:
 * - a track's state lives from its first seen frame until the tracker ends it;
 * - while a track is lost, its state may be *offered* for a short window: a track born where the
 *   lost one is predicted to be by now, with the same mode and a similar size, *takes it over* (an
 *   ID switch neither adds a count nor loses one); a stranger arriving elsewhere does not. An ID
 *   switch is a short gap: once the prediction has travelled more than `maxTravel` box heights
 *   from where the track was lost, it is speculation, and the offer closes;
 * - a track seen again withdraws its offer; an ended track's offer stays open for the rest of its
 *   window, and an offer that nobody took is handed back to the counter when it expires.
 * Bounded: states by the live tracks, offers by the window.
 */
export class TrackStates<S extends PerTrack> {
  private readonly states = new Map<number, S>();
  /** Open offers by track id, oldest first (a Map keeps insertion order). */
  private readonly offers = new Map<number, Offer<S>>();

  constructor(
    private readonly windowMs: number,
    /** How far (in box heights) a lost track's prediction may travel while its offer stands. */
    private readonly maxTravel: number,
  ) {}

  get(trackId: number): S | undefined {
    return this.states.get(trackId);
  }

  set(trackId: number, state: S): void {
    this.states.set(trackId, state);
  }

  /**
   * The track is lost this frame: the counter's state is kept. On the first lost frame `offer`
   * opens it to a successor; `predicted` moves an open offer along with the tracker's prediction.
   */
  lost(
    trackId: number,
    x: number,
    y: number,
    height: number,
    mode: Mode,
    offer: boolean,
    tsMs: number,
  ): void {
    const s = this.states.get(trackId);
    if (!s) return;
    if (s.wasSeen) {
      this.offers.delete(trackId);
      if (offer)
        this.offers.set(trackId, {
          trackId,
          fromX: x,
          fromY: y,
          x,
          y,
          height,
          mode,
          lostAtMs: tsMs,
          state: s,
          ended: false,
        });
    } else {
      const o = this.offers.get(trackId);
      if (o) {
        if (Math.hypot(x - o.fromX, y - o.fromY) > this.maxTravel * height) this.offers.delete(trackId);
        else {
          o.x = x;
          o.y = y;
          o.height = height;
        }
      }
    }
    s.wasSeen = false;
  }

  /** The track is seen this frame: its state, with an open offer withdrawn; undefined if it has none. */
  seen(trackId: number): S | undefined {
    const s = this.states.get(trackId);
    if (s && !s.wasSeen) {
      this.offers.delete(trackId);
      s.wasSeen = true;
    }
    return s;
  }

  /**
   * A new track takes over the nearest offer within `radius` of where it was born, of the same mode
   * and of a similar size, if any.
   */
  takeOver(trackId: number, born: Whereabouts, radius: number, tsMs: number): S | undefined {
    this.expire(tsMs);
    const { x, y, height, mode } = born;
    let best: Offer<S> | undefined;
    let bestDist = radius;
    for (const o of this.offers.values()) {
      if (o.mode !== mode) continue;
      const ratio = height / Math.max(1, o.height);
      if (ratio > MAX_SIZE_RATIO || ratio < 1 / MAX_SIZE_RATIO) continue;
      const d = Math.hypot(o.x - x, o.y - y);
      if (d <= bestDist) {
        bestDist = d;
        best = o;
      }
    }
    if (!best) return undefined;
    const o = best;
    this.offers.delete(o.trackId);
    this.states.delete(o.trackId);
    o.state.wasSeen = true;
    this.states.set(trackId, o.state);
    return o.state;
  }

  /**
   * The tracker ended the track: its state is freed and returned, unless an offer of it is still
   * open (then it is returned by `expire` if nobody takes it over).
   */
  end(trackId: number): S | undefined {
    const s = this.states.get(trackId);
    if (!s) return undefined;
    this.states.delete(trackId);
    const offer = this.offers.get(trackId);
    if (offer) {
      offer.ended = true;
      return undefined;
    }
    return s;
  }

  /** Closes offers older than the window; returns the states of ended tracks nobody took over. */
  expire(tsMs: number, ended?: S[]): void {
    for (const o of this.offers.values()) {
      if (tsMs - o.lostAtMs <= this.windowMs) return; // the rest are younger
      this.offers.delete(o.trackId);
      if (o.ended) ended?.push(o.state);
    }
  }

  values(): IterableIterator<S> {
    return this.states.values();
  }

  /** States and open offers held. */
  get size(): number {
    return this.states.size + this.offers.size;
  }
}
