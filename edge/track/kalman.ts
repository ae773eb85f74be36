/**
 * A constant-velocity Kalman filter for one coordinate (position + velocity). The box filter of
 * ByteTrack is block-diagonal per coordinate (cx, cy, w, h), so four of these give the same result
 * as its 8x8 filter at a fraction of the cost, and time steps are real seconds rather than frames.
 */
export class AxisFilter {
  p = 0;
  v = 0;
  /** Covariance [[pp, pv], [pv, vv]]. */
  pp = 0;
  pv = 0;
  vv = 0;

  init(position: number, posStd: number, velStd: number): void {
    this.p = position;
    this.v = 0;
    this.pp = posStd * posStd;
    this.pv = 0;
    this.vv = velStd * velStd;
  }

  predict(dt: number, posNoiseVar: number, velNoiseVar: number): void {
    if (dt <= 0) return;
    this.p += this.v * dt;
    this.pp += 2 * dt * this.pv + dt * dt * this.vv + posNoiseVar;
    this.pv += dt * this.vv;
    this.vv += velNoiseVar;
  }

  update(measured: number, measurementVar: number): void {
    const s = this.pp + measurementVar;
    const kp = this.pp / s;
    const kv = this.pv / s;
    const innovation = measured - this.p;
    this.p += kp * innovation;
    this.v += kv * innovation;
    const pp = this.pp;
    const pv = this.pv;
    this.pp = (1 - kp) * pp;
    this.pv = (1 - kp) * pv;
    this.vv -= kv * pv;
  }
}
