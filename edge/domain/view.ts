/**
 * The part of the camera's view a frame's pixels show, in relative coordinates (0..1 of the whole
 * view). A detector that looks only where the lines and zones are sees small and far road users
 * with more pixels each: the same model input holds less of the scene.
 */
export interface ViewRect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export const WHOLE_VIEW: ViewRect = { x: 0, y: 0, width: 1, height: 1 };

export function isWholeView(v: ViewRect | undefined): boolean {
  return v === undefined || (v.x <= 0 && v.y <= 0 && v.width >= 1 && v.height >= 1);
}

export function sameView(a: ViewRect | undefined, b: ViewRect | undefined): boolean {
  if (isWholeView(a) || isWholeView(b)) return isWholeView(a) && isWholeView(b);
  return a!.x === b!.x && a!.y === b!.y && a!.width === b!.width && a!.height === b!.height;
}

/** A rectangle given as corners [x1, y1, x2, y2], clamped to the view. */
export function viewFromCorners([x1, y1, x2, y2]: readonly [number, number, number, number]): ViewRect {
  const left = clamp01(Math.min(x1, x2));
  const top = clamp01(Math.min(y1, y2));
  return {
    x: left,
    y: top,
    width: clamp01(Math.max(x1, x2)) - left,
    height: clamp01(Math.max(y1, y2)) - top,
  };
}

/** `camera.region`: all of the view, the rectangle around the lines and zones, or two corners. */
export type RegionSetting = "whole" | "lines" | readonly [number, number, number, number];

type Points = readonly (readonly [number, number])[];

interface GeometryPoints {
  readonly lines: readonly { readonly points: Points }[];
  readonly zones: readonly { readonly polygon: Points }[];
}

/**
 * The part of the view the detector should look at (`camera.region`): all of it, the rectangle
 * around the lines and zones plus a margin, or a fixed one. Around lines, a side is never below a
 * quarter of the view (beyond 4x the scene would be magnified past what detectors are trained on)
 * and the rectangle takes the detector input's shape where the scene has room (`shape`: the whole
 * view's and the input's width / height; unknown, the region waits for it and is the whole view).
 * The counter and the set-up page (which draws it) both decide it here.
 */
export function detectionView(
  region: RegionSetting,
  margin: number,
  geometry: GeometryPoints,
  shape: { readonly sceneAspect: number; readonly inputAspect: number } | undefined,
): ViewRect {
  if (region !== "lines") return regionBeforeShaping(region, margin, geometry);
  if (!shape) return WHOLE_VIEW;
  return shapedLike(regionBeforeShaping(region, margin, geometry), shape.sceneAspect, shape.inputAspect);
}

/** The region as configured, before region `lines` takes the input's shape (what `config check` shows). */
export function regionBeforeShaping(
  region: RegionSetting,
  margin: number,
  geometry: GeometryPoints,
): ViewRect {
  if (region === "whole") return WHOLE_VIEW;
  if (region !== "lines") return viewFromCorners(region);
  return viewAroundGeometry(geometry, margin);
}

/** Region `lines` before it takes the input's shape: around every line and zone, plus the margin. */
function viewAroundGeometry(geometry: GeometryPoints, margin: number): ViewRect {
  const points = [...geometry.lines.flatMap((l) => l.points), ...geometry.zones.flatMap((z) => z.polygon)];
  return viewAround(points, margin, MIN_VIEW_SIDE);
}

const MIN_VIEW_SIDE = 0.25;

/**
 * The rectangle around `points` (relative), grown by `margin` of the view on every side, so that
 * road users are detected and tracked before they reach a line; each side is at least `minSide`
 * (a tiny region would magnify the scene beyond what a detector was trained on). Clamped to the
 * view. No points: the whole view.
 */
export function viewAround(
  points: Iterable<readonly [number, number]>,
  margin: number,
  minSide: number,
): ViewRect {
  let x1 = Number.POSITIVE_INFINITY;
  let y1 = Number.POSITIVE_INFINITY;
  let x2 = Number.NEGATIVE_INFINITY;
  let y2 = Number.NEGATIVE_INFINITY;
  for (const [x, y] of points) {
    x1 = Math.min(x1, x);
    y1 = Math.min(y1, y);
    x2 = Math.max(x2, x);
    y2 = Math.max(y2, y);
  }
  if (!(x2 >= x1 && y2 >= y1)) return WHOLE_VIEW;
  const [left, width] = span(x1 - margin, x2 + margin, minSide);
  const [top, height] = span(y1 - margin, y2 + margin, minSide);
  return { x: left, y: top, width, height };
}

/** Whether a relative point lies in `v` (its edges included). */
export function viewContains(v: ViewRect, [x, y]: readonly [number, number]): boolean {
  return x >= v.x && x <= v.x + v.width && y >= v.y && y <= v.y + v.height;
}

/**
 * `v` in whole pixels of a `width` x `height` image, truncated as ffmpeg's crop filter does (so the
 * capture stage and the detector cut the same pixels), and the relative rectangle that really is.
 */
export function inWholePixels(
  v: ViewRect,
  width: number,
  height: number,
): { left: number; top: number; width: number; height: number; view: ViewRect } {
  const left = Math.min(width - 1, Math.trunc(width * v.x));
  const top = Math.min(height - 1, Math.trunc(height * v.y));
  const w = Math.min(width - left, Math.max(1, Math.trunc(width * v.width)));
  const h = Math.min(height - top, Math.max(1, Math.trunc(height * v.height)));
  return {
    left,
    top,
    width: w,
    height: h,
    view: { x: left / width, y: top / height, width: w / width, height: h / height },
  };
}

/**
 * `view` grown along its short side until it has the shape of the detector's input (`inputAspect`,
 * width / height), as far as the scene allows. Letterboxing would fill that room with padding: as
 * context it costs no resolution, and road users are seen for longer before they reach a line.
 * `sceneAspect` is the whole view's width / height.
 */
export function shapedLike(view: ViewRect, sceneAspect: number, inputAspect: number): ViewRect {
  const aspect = (view.width * sceneAspect) / view.height;
  if (aspect > inputAspect) {
    const [y, height] = span(view.y, view.y + view.height, (view.width * sceneAspect) / inputAspect);
    return { x: view.x, width: view.width, y, height };
  }
  const [x, width] = span(view.x, view.x + view.width, (view.height * inputAspect) / sceneAspect);
  return { x, width, y: view.y, height: view.height };
}

/** [start, length] of lo..hi widened about its centre to `min`, then kept inside 0..1. */
function span(lo: number, hi: number, min: number): [number, number] {
  const a = Math.max(0, lo);
  const b = Math.min(1, hi);
  const length = Math.min(1, Math.max(b - a, min));
  const centre = (a + b) / 2;
  const start = Math.min(1 - length, Math.max(0, centre - length / 2));
  const s = round4(start);
  return [s, round4(Math.min(1 - s, length))];
}

/** Four decimals: a tenth of a pixel on a 4K camera, and ffmpeg arguments that read cleanly. */
function round4(v: number): number {
  return Math.round(v * 10_000) / 10_000;
}

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}
