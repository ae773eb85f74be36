import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import {
  type Anchor,
  type Bucket,
  call,
  type GeometryAnswer,
  type Health,
  type LineDraft,
  type LiveCounts,
  type LiveFrame,
  type RedactedConfig,
  type SessionInfo,
  type SetupStatus,
  setCsrf,
  type ZoneDraft,
} from "./api.ts";
import { GeometryEditor, MODE_COLOURS } from "./editor.ts";
import { pageLanguage, type StringKey, t } from "./strings.ts";

/** Builds an element: attributes, then children (strings become text). */
function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | ((e: Event) => void)> = {},
  ...children: (Node | string | null)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") node.addEventListener(k.slice(2).toLowerCase(), v);
    else if (typeof v === "boolean") {
      if (v) node.setAttribute(k, "");
    } else node.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null) node.append(c);
  return node;
}

const root = document.getElementById("app") as HTMLElement;
document.documentElement.lang = pageLanguage;
document.title = t("title");

let session: SessionInfo = { loginRequired: false, authenticated: true, csrf: null, expires: null };
/** What stops when the tab changes: event streams and timers of the view that was shown. */
let viewCleanup: (() => void)[] = [];

function cleanupView(): void {
  for (const stop of viewCleanup) stop();
  viewCleanup = [];
}

async function boot(): Promise<void> {
  const s = await call<SessionInfo>("GET", "/api/session");
  session = s.body;
  setCsrf(session.csrf);
  if (!session.authenticated) renderLogin();
  else renderShell(location.hash === "#setup" ? "setup" : location.hash === "#device" ? "device" : "counts");
}

function renderLogin(): void {
  cleanupView();
  const message = h("p", { class: "error", role: "alert" });
  const input = h("input", {
    type: "password",
    id: "token",
    name: "token",
    autocomplete: "current-password",
    required: true,
  });
  const form = h(
    "form",
    {
      class: "login",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const r = await call<{ csrf: string }>("POST", "/api/login", { token: input.value });
        if (r.status === 200) {
          await boot();
          return;
        }
        message.textContent = r.status === 429 ? t("tooManyLogins") : t("wrongToken");
      },
    },
    h("h1", {}, t("loginTitle")),
    h("p", {}, t("loginHelp")),
    h("label", { for: "token" }, t("token")),
    input,
    h("button", { type: "submit" }, t("logIn")),
    message,
  );
  root.replaceChildren(form);
  input.focus();
}

type Tab = "counts" | "setup" | "device";

function renderShell(tab: Tab): void {
  cleanupView();
  const health = h("ul", { class: "health", "aria-label": "health" });
  const tabs: [Tab, StringKey][] = [
    ["counts", "tabCounts"],
    ["setup", "tabSetup"],
    ["device", "tabDevice"],
  ];
  const nav = h(
    "nav",
    { role: "tablist" },
    ...tabs.map(([id, key]) =>
      h(
        "button",
        {
          role: "tab",
          id: `tab-${id}`,
          "aria-selected": String(id === tab),
          onclick: () => {
            location.hash = id === "counts" ? "" : `#${id}`;
            renderShell(id);
          },
        },
        t(key),
      ),
    ),
  );
  const logout = session.loginRequired
    ? h(
        "button",
        {
          class: "secondary",
          onclick: async () => {
            await call("POST", "/api/logout", {});
            await boot();
          },
        },
        t("logOut"),
      )
    : null;
  const body = h("section", { role: "tabpanel", "aria-labelledby": `tab-${tab}` });
  root.replaceChildren(h("header", {}, h("h1", {}, t("title")), health, logout), nav, body);
  const refreshHealth = async () => {
    const r = await call<Health>("GET", "/health");
    if (r.body) renderHealth(health, r.body);
  };
  void refreshHealth();
  const timer = setInterval(refreshHealth, 5000);
  viewCleanup.push(() => clearInterval(timer));
  if (tab === "counts") renderCounts(body);
  else if (tab === "device") void renderDevice(body);
  else void renderSetup(body);
}

function renderHealth(list: HTMLElement, health: Health): void {
  const word = (state: string) => {
    const key = `state${state.charAt(0).toUpperCase()}${state.slice(1)}` as StringKey;
    return t(key) ?? state;
  };
  const good = new Set(["up", "ok", "connected", "disabled"]);
  const chip = (label: StringKey, state: string) =>
    h("li", { class: good.has(state) ? "good" : "bad" }, `${t(label)}: ${word(state)}`);
  list.replaceChildren(
    chip("camera", health.camera?.state ?? "unknown"),
    h("li", { class: health.model ? "good" : "bad" }, `${t("model")}: ${health.model ?? "—"}`),
    chip("broker", health.broker.state),
    chip("disk", health.database.state),
  );
}

// ---- device: what it is and where it sends; secrets only as set / not set ----

/** The API shows every secret as `***` (a URL's password too): the page can only say whether one is set. */
const isSet = (v: string | undefined) => v?.includes("***") === true;

async function renderDevice(body: HTMLElement): Promise<void> {
  const r = await call<RedactedConfig>("GET", "/api/config");
  if (r.status !== 200) return;
  const c = r.body;
  const row = (label: StringKey, value: string) => [h("dt", {}, t(label)), h("dd", {}, value)];
  const secret = (label: StringKey, set: boolean) => row(label, t(set ? "secretSet" : "secretNotSet"));
  body.replaceChildren(
    h(
      "dl",
      { class: "facts" },
      ...row("deviceId", c.device.id),
      ...row("deviceName", c.device.name || "—"),
      ...row("location", `${c.device.location.latitude}, ${c.device.location.longitude}`),
      ...row("cameraSource", c.camera.source),
      ...row("model", c.model.id),
      ...row("mqttBroker", c.mqtt.enabled ? c.mqtt.url : t("off")),
      ...row("mqttFormat", c.mqtt.format),
    ),
    h("h3", {}, t("secrets")),
    h(
      "dl",
      { class: "facts", id: "secrets" },
      ...secret("mqttPassword", isSet(c.mqtt.password) || /\/\/[^/]*\*\*\*[^/]*@/.test(c.mqtt.url)),
      ...secret("apiToken", isSet(c.api.token)),
      ...secret("cameraCredentials", /\/\/[^/]*\*\*\*[^/]*@/.test(c.camera.source)),
    ),
  );
}

// ---- counts: live totals (aggregates only), today's plot, CSV ----

function renderCounts(body: HTMLElement): void {
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
  viewCleanup.push(() => {
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

// ---- set-up: explicit, temporary mode; the scene without road users; lines and zones ----

async function renderSetup(body: HTMLElement): Promise<void> {
  const statusLine = h("p", { id: "setup-status" });
  const toggle = h("button", { id: "setup-toggle" });
  const waiting = h("p", { class: "muted", id: "preview-waiting" });
  const image = h("img", { id: "preview", alt: "", draggable: "false" });
  const message = h("div", { id: "save-message", role: "status" });
  const help = h("p", { class: "muted", id: "draw-help" });
  const forms = h("div", { class: "shapes" });
  const geometry = await call<GeometryAnswer>("GET", "/api/geometry");
  let revision = geometry.body.revision;
  let lines: LineDraft[] = structuredClone(geometry.body.lines);
  let zones: ZoneDraft[] = structuredClone(geometry.body.zones);
  let anchor: Anchor = geometry.body.anchor;
  let dirty = false;
  const seen = new Map<string, number>();
  const unsaved = h("span", { class: "unsaved", hidden: true }, t("unsaved"));

  const editor = new GeometryEditor(lines, zones, () => {
    dirty = true;
    renderForms();
  });
  editor.anchor = anchor;
  editor.region = geometry.body.region;
  const stage = h("div", { class: "stage" }, image, editor.svg);
  // every anchor the schema knows has its label (a new one does not compile without)
  const anchorLabels: Record<Anchor, StringKey> = {
    "bottom-center": "anchorBottom",
    center: "anchorCenter",
    "top-center": "anchorTop",
  };
  const anchorSelect = h(
    "select",
    {
      id: "anchor",
      onchange: () => {
        anchor = anchorSelect.value as Anchor;
        editor.anchor = anchor;
        dirty = true;
        unsaved.hidden = false;
      },
    },
    ...Object.entries(anchorLabels).map(([value, key]) =>
      h("option", { value, ...(value === anchor ? { selected: true } : {}) }, t(key)),
    ),
  );
  const showAnchor = () => {
    anchorSelect.value = anchor;
    editor.anchor = anchor;
  };

  const addLine = h("button", { id: "add-line", onclick: () => startDrawing("line") }, t("addLine"));
  const addZone = h("button", { id: "add-zone", onclick: () => startDrawing("zone") }, t("addZone"));
  const finish = h("button", { id: "finish", disabled: true, onclick: () => stopDrawing(true) }, t("finish"));
  const remove = h(
    "button",
    { id: "delete", class: "secondary", onclick: () => editor.deleteSelected() },
    t("deleteSelected"),
  );
  const save = h("button", { id: "save", class: "primary", onclick: () => void doSave() }, t("save"));
  const revert = h("button", { class: "secondary", onclick: () => void reload() }, t("revert"));

  function startDrawing(kind: "line" | "zone"): void {
    editor.startDrawing(kind);
    finish.disabled = false;
    help.textContent = t(kind === "line" ? "drawLineHelp" : "drawZoneHelp");
  }
  function stopDrawing(keep: boolean): void {
    if (keep) editor.finish();
    else editor.cancelDrawing();
    finish.disabled = true;
    help.textContent = t("editHelp");
  }
  const onKey = (e: KeyboardEvent) => {
    if (!editor.isDrawing) return;
    if (e.key === "Enter") stopDrawing(true);
    if (e.key === "Escape") stopDrawing(false);
  };
  document.addEventListener("keydown", onKey);
  viewCleanup.push(() => document.removeEventListener("keydown", onKey));

  async function reload(): Promise<void> {
    const g = await call<GeometryAnswer>("GET", "/api/geometry");
    revision = g.body.revision;
    lines = structuredClone(g.body.lines);
    zones = structuredClone(g.body.zones);
    anchor = g.body.anchor;
    showAnchor();
    editor.setGeometry(lines, zones);
    dirty = false;
    renderForms();
  }

  async function doSave(): Promise<void> {
    if (editor.isDrawing) stopDrawing(true);
    const r = await call<GeometryAnswer & { problems?: string[]; error?: string }>("PUT", "/api/geometry", {
      lines,
      zones,
      anchor,
      ...(revision ? { revision } : {}),
    });
    if (r.status === 200) {
      revision = r.body.revision;
      lines = structuredClone(r.body.lines);
      zones = structuredClone(r.body.zones);
      anchor = r.body.anchor;
      showAnchor();
      editor.setGeometry(lines, zones);
      dirty = false;
      renderForms();
      message.className = "ok";
      message.replaceChildren(t("saved"));
    } else if (r.status === 409) {
      await reload();
      message.className = "error";
      message.replaceChildren(t("conflict"));
    } else {
      renderForms();
      message.className = "error";
      const unplaced = showProblems(editing, r.body.problems ?? [r.body.error ?? String(r.status)]);
      message.replaceChildren(
        t("notSaved"),
        ...(unplaced.length ? [h("ul", {}, ...unplaced.map((p) => h("li", {}, p)))] : []),
      );
    }
  }

  function field(path: string, label: StringKey, input: HTMLInputElement): HTMLElement {
    input.id = `f-${path.replace(/[^\w]/g, "-")}`;
    input.dataset.path = path;
    return h(
      "div",
      { class: "field" },
      h("label", { for: input.id }, t(label)),
      input,
      h("span", { class: "problem", "data-for": path }),
    );
  }

  function renderForms(): void {
    unsaved.hidden = !dirty;
    const sel = editor.selection;
    const text = (value: string, onValue: (v: string) => void) =>
      h("input", {
        type: "text",
        value,
        oninput: (e: Event) => {
          onValue((e.target as HTMLInputElement).value);
          dirty = true;
          unsaved.hidden = false;
          editor.render();
        },
      });
    const lineForms = lines.map((l, i) =>
      h(
        "fieldset",
        {
          class: sel?.kind === "line" && sel.index === i ? "selected" : "",
          "data-line": i,
          onfocusin: () => editor.select({ kind: "line", index: i }),
        },
        h(
          "legend",
          {},
          `${t("line")} ${i + 1}`,
          h(
            "span",
            { class: "seen", "data-seen": l.name },
            ` · ${seen.get(l.name) ?? 0} ${t("crossingsHere")}`,
          ),
        ),
        field(
          `lines[${i}].name`,
          "name",
          text(l.name, (v) => {
            l.name = v;
          }),
        ),
        field(
          `lines[${i}].from`,
          "fromSide",
          text(l.from, (v) => {
            l.from = v;
          }),
        ),
        field(
          `lines[${i}].to`,
          "toSide",
          text(l.to, (v) => {
            l.to = v;
          }),
        ),
        h(
          "button",
          {
            class: "secondary",
            type: "button",
            onclick: () => {
              l.points.reverse();
              dirty = true;
              editor.render();
              renderForms();
            },
          },
          t("swap"),
        ),
        h("span", { class: "problem", "data-for": `lines[${i}].points` }),
      ),
    );
    const zoneForms = zones.map((z, i) =>
      h(
        "fieldset",
        {
          class: sel?.kind === "zone" && sel.index === i ? "selected" : "",
          onfocusin: () => editor.select({ kind: "zone", index: i }),
        },
        h("legend", {}, `${t("zone")} ${i + 1}`),
        field(
          `zones[${i}].name`,
          "name",
          text(z.name, (v) => {
            z.name = v;
          }),
        ),
        field(
          `zones[${i}].dwellThresholdSec`,
          "dwell",
          h("input", {
            type: "number",
            min: 0,
            step: 1,
            value: z.dwellThresholdSec,
            oninput: (e: Event) => {
              z.dwellThresholdSec = Number((e.target as HTMLInputElement).value);
              dirty = true;
              unsaved.hidden = false;
            },
          }),
        ),
        h("span", { class: "problem", "data-for": `zones[${i}].polygon` }),
      ),
    );
    forms.replaceChildren(
      ...(lines.length + zones.length === 0 ? [h("p", { class: "muted" }, t("nothingDrawn"))] : []),
      ...(lines.length ? [h("h3", {}, t("lines")), ...lineForms] : []),
      ...(zones.length ? [h("h3", {}, t("zones")), ...zoneForms] : []),
    );
  }

  let status: SetupStatus | undefined;
  let live: EventSource | undefined;
  let previewUrl: string | undefined;
  const editing = h(
    "div",
    { class: "editing" },
    stage,
    waiting,
    h("div", { class: "toolbar", role: "toolbar" }, addLine, addZone, finish, remove),
    help,
    h(
      "div",
      { class: "field anchor" },
      h("label", { for: "anchor" }, t("anchor")),
      anchorSelect,
      h("span", { class: "problem", "data-for": "counting.anchor" }),
    ),
    forms,
    h("div", { class: "toolbar" }, save, revert, unsaved),
    message,
  );
  body.replaceChildren(statusLine, toggle, editing);
  help.textContent = t("editHelp");
  renderForms();

  toggle.addEventListener("click", async () => {
    const r = await call<SetupStatus>("POST", "/api/setup", { active: !status?.active });
    showStatus(r.body);
  });

  async function refreshPreview(): Promise<void> {
    if (!status?.active) return;
    const res = await fetch("/api/setup/background.jpg", { credentials: "same-origin", cache: "no-store" });
    if (res.status === 200) {
      const blob = await res.blob();
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = URL.createObjectURL(blob);
      image.src = previewUrl;
      waiting.textContent = "";
    } else if (res.status === 503) {
      const b = (await res.json()) as { samples: number; samplesNeeded: number };
      waiting.textContent = t("previewWaiting", { samples: b.samples, needed: b.samplesNeeded });
    }
  }
  image.addEventListener("load", () => {
    if (image.naturalWidth > 0) editor.setAspect(image.naturalWidth / image.naturalHeight);
    stage.classList.add("has-preview");
  });

  function showStatus(s: SetupStatus): void {
    const was = status?.active;
    status = s;
    toggle.textContent = s.active ? t("endSetup") : t("startSetup", { minutes: s.maxMinutes });
    statusLine.textContent = s.active
      ? t("setupOn", { until: new Date(s.until ?? "").toLocaleTimeString() })
      : t("setupOff");
    if (s.active && !was) {
      live = new EventSource("/api/setup/live");
      live.addEventListener("positions", (e) => {
        const frame = JSON.parse((e as MessageEvent<string>).data) as LiveFrame;
        editor.showPositions(frame.positions);
        for (const c of frame.crossings) {
          seen.set(c.line, (seen.get(c.line) ?? 0) + 1);
          editor.flash(c.line);
          const badge = forms.querySelector(`[data-seen="${CSS.escape(c.line)}"]`);
          if (badge) badge.textContent = ` · ${seen.get(c.line)} ${t("crossingsHere")}`;
        }
      });
      live.addEventListener("setup-off", () => void poll());
      void refreshPreview();
    }
    if (!s.active) {
      live?.close();
      live = undefined;
      editor.showPositions([]);
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = undefined;
      image.removeAttribute("src");
      stage.classList.remove("has-preview");
      waiting.textContent = "";
    }
  }
  const poll = async () => {
    const r = await call<SetupStatus>("GET", "/api/setup");
    if (r.status === 200) showStatus(r.body);
  };
  await poll();
  const statusTimer = setInterval(poll, 3000);
  const previewTimer = setInterval(() => void refreshPreview(), 4000);
  viewCleanup.push(() => {
    clearInterval(statusTimer);
    clearInterval(previewTimer);
    live?.close();
    if (previewUrl) URL.revokeObjectURL(previewUrl);
  });
}

/** Puts each problem beside its field (`lines[0].name: …`); returns those with no field. */
function showProblems(container: HTMLElement, problems: readonly string[]): string[] {
  const slots = [...container.querySelectorAll<HTMLElement>(".problem")];
  for (const s of slots) s.textContent = "";
  const unplaced: string[] = [];
  for (const problem of problems) {
    const path = problem.split(":", 1)[0] ?? "";
    // the most specific field the path names: lines[0].points[1] goes to lines[0].points
    const slot = slots
      .filter((s) => {
        const f = s.dataset.for ?? "";
        return path === f || path.startsWith(`${f}[`) || path.startsWith(`${f}.`);
      })
      .sort((a, b) => (b.dataset.for ?? "").length - (a.dataset.for ?? "").length)[0];
    if (slot) {
      slot.textContent = problem;
      slot.closest(".field")?.classList.add("invalid");
      container
        .querySelector<HTMLInputElement>(`input[data-path="${CSS.escape(slot.dataset.for ?? "")}"]`)
        ?.setAttribute("aria-invalid", "true");
    } else unplaced.push(problem);
  }
  return unplaced;
}

void boot();
