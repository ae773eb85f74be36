import {
  type Anchor,
  call,
  type ErrorAnswer,
  type GeometryAnswer,
  type LiveFrame,
  type SetupStatus,
} from "./api.ts";
import { h } from "./dom.ts";
import { GeometryDraft } from "./draft.ts";
import { GeometryEditor } from "./editor.ts";
import { type StringKey, t } from "./strings.ts";

/**
 * The set-up tab: set-up mode switched on and off (explicit, temporary), the scene without road
 * users, and the lines and zones drawn on it and saved. `onLeave` takes what stops when another tab
 * is shown.
 */
export async function renderSetup(body: HTMLElement, onLeave: (stop: () => void) => void): Promise<void> {
  const statusLine = h("p", { id: "setup-status" });
  const toggle = h("button", { id: "setup-toggle" });
  const waiting = h("p", { class: "muted", id: "preview-waiting" });
  const image = h("img", { id: "preview", alt: "", draggable: "false" });
  const message = h("div", { id: "save-message", role: "status" });
  const help = h("p", { class: "muted", id: "draw-help" });
  const forms = h("div", { class: "shapes" });
  const geometry = await call<GeometryAnswer>("GET", "/api/geometry");
  const seen = new Map<string, number>();
  const unsaved = h("span", { class: "unsaved", hidden: true }, t("unsaved"));
  const draft = new GeometryDraft(geometry.body, (dirty) => {
    unsaved.hidden = !dirty;
  });

  const editor = new GeometryEditor(draft, () => renderForms());
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
        draft.anchor = anchorSelect.value as Anchor;
        draft.changed();
        editor.render();
      },
    },
    ...Object.entries(anchorLabels).map(([value, key]) =>
      h("option", { value, ...(value === draft.anchor ? { selected: true } : {}) }, t(key)),
    ),
  );

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
  onLeave(() => document.removeEventListener("keydown", onKey));

  /** The device's geometry, loaded or saved: the draft, the drawing and the forms show it. */
  function show(answer: GeometryAnswer): void {
    draft.apply(answer);
    anchorSelect.value = draft.anchor;
    editor.reset();
    renderForms();
  }

  async function reload(): Promise<void> {
    show((await call<GeometryAnswer>("GET", "/api/geometry")).body);
  }

  async function doSave(): Promise<void> {
    if (editor.isDrawing) stopDrawing(true);
    const r = await call<GeometryAnswer & ErrorAnswer>("PUT", "/api/geometry", draft.toEdit());
    if (r.status === 200) {
      show(r.body);
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
    const sel = editor.selection;
    const text = (value: string, onValue: (v: string) => void) =>
      h("input", {
        type: "text",
        value,
        oninput: (e: Event) => {
          onValue((e.target as HTMLInputElement).value);
          draft.changed();
          editor.render();
        },
      });
    const { lines, zones } = draft;
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
              draft.changed();
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
              draft.changed();
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
  onLeave(() => {
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
