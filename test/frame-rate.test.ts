import { describe, expect, it } from "vitest";
import { FrameRate } from "../edge/app/frame-rate.ts";

describe("processed frame rate", () => {
  it("an uneven 10 fps stream (gaps of 50 and 150 ms) is 10 fps, not the 13.3 an average of per-frame rates gives", () => {
    const r = new FrameRate(10_000);
    let t = 1_000_000;
    for (let i = 0; i < 300; i++) {
      r.add(t);
      t += i % 2 === 0 ? 50 : 150;
    }
    expect(r.perSecond(t)).toBeCloseTo(10, 0);
  });

  it("before a full window, frames over the time since counting started; when frames stop it falls to 0", () => {
    const r = new FrameRate(10_000);
    expect(r.perSecond(5000)).toBe(0);
    r.start(0);
    for (let t = 200; t <= 2000; t += 200) r.add(t); // 5 fps
    expect(r.perSecond(2000)).toBeCloseTo(5, 1);
    expect(r.perSecond(2100)).toBeLessThan(5);
    expect(r.perSecond(13_000)).toBe(0);
  });

  it("a rate above what the ring holds over the window is still right", () => {
    const r = new FrameRate(10_000, 64);
    for (let t = 0; t < 5000; t += 10) r.add(t); // 100 fps
    expect(r.perSecond(5000)).toBeCloseTo(100, 0);
  });
});
