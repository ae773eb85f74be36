import uPlot from "uplot";
import { type Bucket, call, type LiveCounts } from "./api.ts";
import { h } from "./dom.ts";
import { MODE_COLOURS } from "./editor.ts";
import { t } from "./strings.ts";

/**
 * The counts tab: live totals (aggregates only), today's plot, CSV. `onLeave` takes what stops when
 * another tab is shown.
 */
export function renderCounts(body: HTMLElement, onLeave: (stop: () => void) => void): void {
  const totals = h("div", { id: "live-totals" });
  const occupancy = h("div", { id: "occupancy" });
  const fps = h("p", { class: "muted" });
  const plot = h("div", { class: "plot" });
  const resolution = h(
    "select",
    { id: "resolution", "aria-label": t("today") },
    h("option", { value: "15m" }, t("per15m")),
    h("option", { value: "1h" }, t("perHour")),
  );
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const csv = h("a", { class: "button", download: "counts.csv" }, t("downloadCsv"));
  const updateCsv = () => {
    csv.setAttribute(
      "href",
      `/api/counts?format=csv&resolution=${resolution.value}&from=${midnight.toISOString()}`,
    );
  };
  body.replaceChildren(
    h("h2", {}, t("liveTotals")),
    totals,
    occupancy,
    fps,
    h("h2", {}, t("today"), " ", resolution),
    plot,
    csv,
  );
  const events = new EventSource("/api/counts/live");
  events.addEventListener("counts", (e) => {
    const live = JSON.parse((e as MessageEvent<string>).data) as LiveCounts;
    renderTotals(totals, live);
    renderOccupancy(occupancy, live);
    fps.textContent = `${live.processedFps} ${t("fps")}`;
  });
  let chart: uPlot | undefined;
  const loadPlot = async () => {
    updateCsv();
    const r = await call<{ buckets: Bucket[] }>(
      "GET",
      `/api/counts?resolution=${resolution.value}&from=${midnight.toISOString()}`,
    );
    chart?.destroy();
    chart = drawPlot(plot, r.body?.buckets ?? [], midnight.getTime() / 1000);
  };
  resolution.addEventListener("change", () => void loadPlot());
  void loadPlot();
  const timer = setInterval(loadPlot, 60_000);
  onLeave(() => {
    events.close();
    clearInterval(timer);
    chart?.destroy();
  });
}

function renderTotals(target: HTMLElement, live: LiveCounts): void {
  if (live.today.length === 0) {
    target.replaceChildren(h("p", { class: "muted" }, t("noCrossings")));
    return;
  }
  const rows = [...live.today].sort((a, b) => a.line.localeCompare(b.line) || a.from.localeCompare(b.from));
  target.replaceChildren(
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, t("line")),
          h("th", {}, t("direction")),
          h("th", {}, t("mode")),
          h("th", {}, t("count")),
        ),
      ),
      h(
        "tbody",
        {},
        ...rows.map((r) =>
          h(
            "tr",
            {},
            h("td", {}, r.line),
            h("td", {}, `${r.from} → ${r.to}`),
            h("td", {}, r.mode),
            h("td", { class: "number", "data-line": r.line, "data-mode": r.mode }, String(r.count)),
          ),
        ),
      ),
    ),
  );
}

function renderOccupancy(target: HTMLElement, live: LiveCounts): void {
  if (live.occupancy.length === 0) {
    target.replaceChildren();
    return;
  }
  target.replaceChildren(
    h("h3", {}, t("occupancy")),
    h(
      "ul",
      {},
      ...live.occupancy.map((z) =>
        h(
          "li",
          {},
          `${z.zone}: `,
          Object.entries(z.byMode)
            .map(([mode, n]) => `${n} ${mode}`)
            .join(", ") || "0",
        ),
      ),
    ),
  );
}

/** Crossings per bucket and mode (all lines and directions summed). */
function drawPlot(target: HTMLElement, buckets: readonly Bucket[], fromSec: number): uPlot | undefined {
  target.replaceChildren();
  if (buckets.length === 0) {
    target.append(h("p", { class: "muted" }, t("noHistory")));
    return undefined;
  }
  const modes = [...new Set(buckets.flatMap((b) => b.lines.map((l) => l.mode)))].sort();
  const xs = buckets.map((b) => Date.parse(b.bucketStart) / 1000);
  const ys = modes.map((m) =>
    buckets.map((b) => b.lines.filter((l) => l.mode === m).reduce((sum, l) => sum + l.count, 0)),
  );
  const width = Math.max(280, Math.min(900, target.clientWidth || 600));
  return new uPlot(
    {
      width,
      height: 220,
      // the day so far, whatever the number of buckets (one bucket alone would span years)
      scales: { x: { time: true, range: () => [fromSec, Math.max(fromSec + 3600, Date.now() / 1000)] } },
      series: [
        {},
        ...modes.map((m) => ({
          label: m,
          stroke: MODE_COLOURS[m] ?? "#444",
          width: 2,
          points: { show: true },
        })),
      ],
      axes: [{}, { label: t("count") }],
    },
    [xs, ...ys],
    target,
  );
}
