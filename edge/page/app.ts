import "uplot/dist/uPlot.min.css";
import "./style.css";
import { call, type Health, type SessionInfo, setCsrf } from "./api.ts";
import { renderCounts } from "./counts-tab.ts";
import { renderDevice } from "./device-tab.ts";
import { h } from "./dom.ts";
import { renderSetup } from "./setup-tab.ts";
import { pageLanguage, type StringKey, t } from "./strings.ts";

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
  const onLeave = (stop: () => void) => viewCleanup.push(stop);
  if (tab === "counts") renderCounts(body, onLeave);
  else if (tab === "device") void renderDevice(body);
  else void renderSetup(body, onLeave);
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
    sceneChip(health.scene),
  );
}

/** Can the counter see? Blind is not empty: the states it raised, or ok (docs/mqtt.md#scene-health). */
function sceneChip(scene: Health["scene"]): HTMLElement {
  const names = scene.states.map(
    (s) => t(`scene${s.charAt(0).toUpperCase()}${s.slice(1)}` as StringKey) ?? s,
  );
  const word = names.length > 0 ? names.join(", ") : scene.learning ? t("sceneLearning") : t("stateOk");
  return h("li", { class: names.length > 0 ? "bad" : "good", id: "scene" }, `${t("view")}: ${word}`);
}

void boot();
