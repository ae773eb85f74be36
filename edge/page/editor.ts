import { DEFAULT_DWELL_THRESHOLD_SEC } from "../domain/counting-settings.ts";
import { detectionView, isWholeView } from "../domain/view.ts";
import type { GeometryAnswer, LineDraft, LivePosition, RelPoint } from "./api.ts";
import type { GeometryDraft } from "./draft.ts";
import { t } from "./strings.ts";

const SVG = "http://www.w3.org/2000/svg";
/** The drawing's width in SVG units; its height follows the scene's shape. */
const W = 1000;

export type Selection = { kind: "line" | "zone"; index: number } | null;
type Drawing = { kind: "line" | "zone"; points: RelPoint[] } | null;

export const MODE_COLOURS: Readonly<Record<string, string>> = {
  pedestrian: "#1f77b4",
  cyclist: "#2ca02c",
  car: "#d62728",
  motorcyclist: "#9467bd",
  bus: "#ff7f0e",
  truck: "#8c564b",
};

function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  parent?: Element,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  parent?.appendChild(node);
  return node;
}

const clamp = (v: number) => Math.min(1, Math.max(0, Math.round(v * 10_000) / 10_000));

/**
 * Lines and zones drawn over the scene preview: click to add points, drag (or arrow keys) to move
 * them, arrows showing each line's from → to direction, live positions as boxes by mode. Works in
 * relative coordinates (0..1), as the configuration does.
 */
export class GeometryEditor {
  readonly svg: SVGSVGElement;
  private height = (W * 9) / 16;
  private drawing: Drawing = null;
  private readonly shapes: SVGGElement;
  private readonly live: SVGGElement;
  private readonly flashes = new Map<string, number>();
  selection: Selection = null;
  /** `camera.region`: drawn as the rectangle the detector looks at, following the lines as they move. */
  region: GeometryAnswer["region"];

  constructor(
    /** What is drawn and edited (its anchor is drawn as a dot on the live boxes). */
    private readonly draft: GeometryDraft,
    /** Called after every change made on the drawing (the form beside it re-renders). */
    private readonly changed: () => void,
  ) {
    this.svg = el("svg", { class: "overlay", role: "application", "aria-label": t("tabSetup") });
    this.shapes = el("g", {}, this.svg);
    this.live = el("g", { class: "live" }, this.svg);
    this.setAspect(16 / 9);
    this.svg.addEventListener("click", (e) => this.onClick(e));
    this.svg.addEventListener("dblclick", () => this.finish());
  }

  setAspect(widthOverHeight: number): void {
    this.height = W / widthOverHeight;
    this.svg.setAttribute("viewBox", `0 0 ${W} ${this.height}`);
    this.render();
  }

  /** The draft was replaced (loaded or saved): nothing is selected or being drawn any more. */
  reset(): void {
    this.selection = null;
    this.drawing = null;
    this.render();
  }

  get isDrawing(): boolean {
    return this.drawing !== null;
  }

  get drawingKind(): "line" | "zone" | null {
    return this.drawing?.kind ?? null;
  }

  startDrawing(kind: "line" | "zone"): void {
    this.drawing = { kind, points: [] };
    this.selection = null;
    this.render();
  }

  cancelDrawing(): void {
    this.drawing = null;
    this.render();
  }

  /** Ends the shape being drawn; too few points and it is dropped. */
  finish(): void {
    const d = this.drawing;
    if (!d) return;
    this.drawing = null;
    if (d.kind === "line" && d.points.length >= 2) {
      this.draft.lines.push({ name: this.freeName("line"), points: d.points, from: "A", to: "B" });
      this.selection = { kind: "line", index: this.draft.lines.length - 1 };
    } else if (d.kind === "zone" && d.points.length >= 3) {
      this.draft.zones.push({
        name: this.freeName("zone"),
        polygon: d.points,
        dwellThresholdSec: DEFAULT_DWELL_THRESHOLD_SEC,
      });
      this.selection = { kind: "zone", index: this.draft.zones.length - 1 };
    }
    if (this.selection) this.draft.changed();
    this.render();
    this.changed();
  }

  deleteSelected(): void {
    const s = this.selection;
    if (!s) return;
    if (s.kind === "line") this.draft.lines.splice(s.index, 1);
    else this.draft.zones.splice(s.index, 1);
    this.selection = null;
    this.draft.changed();
    this.render();
    this.changed();
  }

  select(selection: Selection): void {
    this.selection = selection;
    this.render();
  }

  /** Live positions (set-up mode): boxes coloured by mode, no pixels. */
  showPositions(positions: readonly LivePosition[]): void {
    this.live.replaceChildren();
    for (const p of positions) {
      const [x1, y1, x2, y2] = p.box;
      const colour = MODE_COLOURS[p.mode] ?? "#444";
      el(
        "rect",
        {
          x: x1 * W,
          y: y1 * this.height,
          width: (x2 - x1) * W,
          height: (y2 - y1) * this.height,
          fill: "none",
          stroke: colour,
          "stroke-width": 2,
          "stroke-dasharray": p.seen ? "" : "6 4",
          class: `position mode-${p.mode}`,
        },
        this.live,
      );
      const ay =
        this.draft.anchor === "bottom-center" ? y2 : this.draft.anchor === "top-center" ? y1 : (y1 + y2) / 2;
      el(
        "circle",
        { cx: ((x1 + x2) / 2) * W, cy: ay * this.height, r: 5, fill: colour, class: "anchor" },
        this.live,
      );
    }
  }

  /** A crossing of `line` just happened: the line flashes. */
  flash(line: string): void {
    this.flashes.set(line, Date.now());
    this.render();
    setTimeout(() => this.render(), 700);
  }

  private freeName(base: string): string {
    const taken = new Set([...this.draft.lines.map((l) => l.name), ...this.draft.zones.map((z) => z.name)]);
    for (let i = 1; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
  }

  private toRelative(e: MouseEvent): RelPoint {
    const m = this.svg.getScreenCTM();
    if (!m) return [0, 0];
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
    return [clamp(p.x / W), clamp(p.y / this.height)];
  }

  private onClick(e: MouseEvent): void {
    if (!this.drawing) return;
    this.drawing.points.push(this.toRelative(e));
    this.render();
  }

  render(): void {
    const g = this.shapes;
    g.replaceChildren();
    const px = ([x, y]: RelPoint) => `${x * W},${y * this.height}`;
    this.drawRegion(g);
    this.draft.zones.forEach((z, index) => {
      const selected = this.selection?.kind === "zone" && this.selection.index === index;
      const shape = el(
        "polygon",
        { points: z.polygon.map(px).join(" "), class: `zone${selected ? " selected" : ""}` },
        g,
      );
      shape.addEventListener("click", (e) => this.pick(e, { kind: "zone", index }));
      const [cx, cy] = centroid(z.polygon);
      el("text", { x: cx * W, y: cy * this.height, class: "label" }, g).textContent = z.name;
      if (selected) this.handles(z.name, z.polygon, 3);
    });
    this.draft.lines.forEach((l, index) => {
      const selected = this.selection?.kind === "line" && this.selection.index === index;
      const flashing = Date.now() - (this.flashes.get(l.name) ?? 0) < 600;
      const shape = el(
        "polyline",
        {
          points: l.points.map(px).join(" "),
          class: `line${selected ? " selected" : ""}${flashing ? " flash" : ""}`,
        },
        g,
      );
      shape.addEventListener("click", (e) => this.pick(e, { kind: "line", index }));
      this.arrows(l);
      if (selected) this.handles(l.name, l.points, 2);
    });
    const d = this.drawing;
    if (d && d.points.length > 0) {
      el("polyline", { points: d.points.map(px).join(" "), class: "drawing" }, g);
      for (const p of d.points)
        el("circle", { cx: p[0] * W, cy: p[1] * this.height, r: 6, class: "handle" }, g);
    }
  }

  /**
   * Outside set-up the detector sees only this part of the view (set-up itself shows all of it):
   * the same rule as the counter's, applied to the lines and zones as they are now on the page.
   */
  private drawRegion(g: SVGGElement): void {
    const r = this.region;
    if (!r || r.setting === "whole") return;
    const shape = r.inputAspect ? { sceneAspect: W / this.height, inputAspect: r.inputAspect } : undefined;
    const v = detectionView(r.setting, r.margin, { lines: this.draft.lines, zones: this.draft.zones }, shape);
    if (isWholeView(v)) return;
    el(
      "rect",
      {
        x: v.x * W,
        y: v.y * this.height,
        width: v.width * W,
        height: v.height * this.height,
        class: "region",
      },
      g,
    );
    el("text", { x: v.x * W + 8, y: v.y * this.height + 28, class: "region-label" }, g).textContent =
      t("detectionRegion");
  }

  private pick(e: Event, selection: Selection): void {
    if (this.drawing) return;
    e.stopPropagation();
    this.select(selection);
    this.changed();
  }

  /**
   * For each segment an arrow from the `from` side to the `to` side. The counter's `from` side is
   * on the left when walking the line from its first point to its last, as seen on the image.
   */
  private arrows(l: LineDraft): void {
    for (let i = 0; i + 1 < l.points.length; i++) {
      const a = l.points[i] as RelPoint;
      const b = l.points[i + 1] as RelPoint;
      const ax = a[0] * W;
      const ay = a[1] * this.height;
      const dx = b[0] * W - ax;
      const dy = b[1] * this.height - ay;
      const len = Math.hypot(dx, dy);
      if (len < 1) continue;
      // left of the walking direction on screen (y down) is (dy, -dx): the from side
      const nx = dy / len;
      const ny = -dx / len;
      const mx = ax + dx / 2;
      const my = ay + dy / 2;
      const r = 28;
      el(
        "line",
        {
          x1: mx + nx * r,
          y1: my + ny * r,
          x2: mx - nx * r,
          y2: my - ny * r,
          class: "arrow",
          "marker-end": "url(#head)",
        },
        this.shapes,
      );
      if (i === 0) {
        el("text", { x: mx + nx * (r + 16), y: my + ny * (r + 16), class: "side" }, this.shapes).textContent =
          l.from;
        el("text", { x: mx - nx * (r + 16), y: my - ny * (r + 16), class: "side" }, this.shapes).textContent =
          l.to;
        el("text", { x: ax, y: ay - 10, class: "label" }, this.shapes).textContent = l.name;
      }
    }
    if (!this.svg.querySelector("#head")) {
      const defs = el("defs", {}, this.svg);
      const marker = el(
        "marker",
        {
          id: "head",
          viewBox: "0 0 10 10",
          refX: 8,
          refY: 5,
          markerWidth: 6,
          markerHeight: 6,
          orient: "auto",
        },
        defs,
      );
      el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" }, marker);
    }
  }

  /** Draggable, focusable points of the selected shape; `min` points must stay. */
  private handles(name: string, points: RelPoint[], min: number): void {
    points.forEach((p, i) => {
      const c = el(
        "circle",
        {
          cx: p[0] * W,
          cy: p[1] * this.height,
          r: 9,
          class: "handle",
          tabindex: 0,
          role: "slider",
          "aria-label": t("pointLabel", { name, n: i + 1 }),
          "aria-valuetext": `${Math.round(p[0] * 100)}%, ${Math.round(p[1] * 100)}%`,
        },
        this.shapes,
      );
      c.addEventListener("pointerdown", (e) => {
        e.stopPropagation();
        c.setPointerCapture(e.pointerId);
        const move = (ev: PointerEvent) => {
          points[i] = this.toRelative(ev);
          c.setAttribute("cx", String((points[i] as RelPoint)[0] * W));
          c.setAttribute("cy", String((points[i] as RelPoint)[1] * this.height));
        };
        const up = () => {
          c.removeEventListener("pointermove", move);
          c.removeEventListener("pointerup", up);
          this.draft.changed();
          this.render();
          this.changed();
        };
        c.addEventListener("pointermove", move);
        c.addEventListener("pointerup", up);
      });
      c.addEventListener("click", (e) => e.stopPropagation());
      c.addEventListener("keydown", (e) => {
        const step = e.shiftKey ? 0.02 : 0.005;
        const moves: Record<string, [number, number]> = {
          ArrowLeft: [-step, 0],
          ArrowRight: [step, 0],
          ArrowUp: [0, -step],
          ArrowDown: [0, step],
        };
        const m = moves[e.key];
        if (m) {
          points[i] = [clamp(p[0] + m[0]), clamp(p[1] + m[1])];
        } else if ((e.key === "Delete" || e.key === "Backspace") && points.length > min) {
          points.splice(i, 1);
        } else return;
        e.preventDefault();
        this.draft.changed();
        this.render();
        this.changed();
        const again =
          this.shapes.querySelectorAll<SVGCircleElement>("circle.handle")[Math.min(i, points.length - 1)];
        again?.focus();
      });
    });
  }
}

function centroid(points: readonly RelPoint[]): RelPoint {
  let x = 0;
  let y = 0;
  for (const p of points) {
    x += p[0];
    y += p[1];
  }
  return [x / Math.max(1, points.length), y / Math.max(1, points.length)];
}
