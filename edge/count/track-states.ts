import type { Mode } from "../domain/types.ts";

/** What every counter keeps per track, besides its own fields. */
export interface PerTrack {
  /** Seen in the last frame the track appeared in (false while the tracker only predicts it). */
  wasSeen: boolean;
}

interface Offer<S> {
  readonly trackId: number;
  readonly x: number;
  readonly y: number;
  readonly mode: Mode;
  readonly lostAtMs: number;
  readonly state: S;
  /** The tracker ended the track while the offer was open. */
  ended: boolean;
}

/**
 * Per-track counter state with the one set of rules every counter follows:
 * - a track's state lives from its first seen frame until the tracker ends it;
 * - while a track is lost, its state may be *offered* for a short window: a track born near the
 *   spot, with the same mode, *takes it over* (an ID switch neither adds a count nor loses one);
 * - a track seen again withdraws its offer; an ended track's offer stays open for the rest of its
 *   window, and an offer that nobody took is handed back to the counter when it expires.
 * Bounded: states by the live tracks, offers by the window.
 */
export class TrackStates<S extends PerTrack> {
  private readonly states = new Map<number, S>();
  private offers: Offer<S>[] = [];

  constructor(private readonly windowMs: number) {}

  get(trackId: number): S | undefined {
    return this.states.get(trackId);
  }

  set(trackId: number, state: S): void {
    this.states.set(trackId, state);
  }

  /** The track is lost this frame: the counter's state is kept, `offer` opens it to a successor. */
  lost(trackId: number, offerAt: { x: number; y: number; mode: Mode } | undefined, tsMs: number): void {
    const s = this.states.get(trackId);
    if (!s) return;
    if (s.wasSeen && offerAt) {
      this.withdraw(trackId);
      this.offers.push({ trackId, ...offerAt, lostAtMs: tsMs, state: s, ended: false });
    }
    s.wasSeen = false;
  }

  /** The track is seen this frame: its state, with an open offer withdrawn; undefined if it has none. */
  seen(trackId: number): S | undefined {
    const s = this.states.get(trackId);
    if (s && !s.wasSeen) {
      this.withdraw(trackId);
      s.wasSeen = true;
    }
    return s;
  }

  /** A new track takes over the nearest same-mode offer within `radius` of (x, y), if any. */
  takeOver(trackId: number, x: number, y: number, mode: Mode, radius: number, tsMs: number): S | undefined {
    this.expire(tsMs);
    let best = -1;
    let bestDist = radius;
    for (let i = 0; i < this.offers.length; i++) {
      const o = this.offers[i] as Offer<S>;
      if (o.mode !== mode) continue;
      const d = Math.hypot(o.x - x, o.y - y);
      if (d <= bestDist) {
        bestDist = d;
        best = i;
      }
    }
    if (best < 0) return undefined;
    const [o] = this.offers.splice(best, 1) as [Offer<S>];
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
    const offer = this.offers.find((o) => o.trackId === trackId);
    if (offer) {
      offer.ended = true;
      return undefined;
    }
    return s;
  }

  /** Closes offers older than the window; returns the states of ended tracks nobody took over. */
  expire(tsMs: number, ended?: S[]): void {
    const first = this.offers[0];
    if (!first || tsMs - first.lostAtMs <= this.windowMs) return;
    const open: Offer<S>[] = [];
    for (const o of this.offers) {
      if (tsMs - o.lostAtMs <= this.windowMs) open.push(o);
      else if (o.ended) ended?.push(o.state);
    }
    this.offers = open;
  }

  values(): IterableIterator<S> {
    return this.states.values();
  }

  /** States and open offers held. */
  get size(): number {
    return this.states.size + this.offers.length;
  }

  private withdraw(trackId: number): void {
    const i = this.offers.findIndex((o) => o.trackId === trackId);
    if (i >= 0) this.offers.splice(i, 1);
  }
}
