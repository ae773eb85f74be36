import type { SiteMessage } from "../site-message.ts";
import "./site.css";

/** The Site page: the site message now, from the site process's API, every 2 s. */

interface SessionAnswer {
  readonly loginRequired: boolean;
  readonly authenticated: boolean;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page lacks #${id}`);
  return el as T;
};

const time = (iso: string | null): string =>
  iso === null
    ? "–"
    : new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

const STATE_TEXT: Record<SiteMessage["gates"][number]["state"], string> = {
  ok: "counting",
  offline: "offline",
  blind: "blind",
  unknown: "not heard from",
};

function render(m: SiteMessage): void {
  document.title = `${m.occupancy} inside · ${m.name || m.siteId}`;
  $("name").textContent = m.name || m.siteId;
  $("occupancy").textContent = m.occupancy.toLocaleString();
  $("capacity").textContent =
    m.capacity === null
      ? ""
      : `of ${m.capacity.toLocaleString()} (${Math.round((m.occupancy / m.capacity) * 100)} %)`;
  const alarm = $("alarm");
  alarm.hidden = m.alarm === null;
  alarm.textContent = m.alarm === null ? "" : `Capacity alarm: ${m.alarm}`;
  const partial = $("partial");
  const missing = m.gates.filter((g) => g.state !== "ok");
  partial.hidden = !m.partial;
  partial.textContent = m.partial
    ? `Partial since ${time(m.partialSince)}: ${missing.map((g) => `${g.gate} ${STATE_TEXT[g.state]}`).join(", ")} — their crossings are missing`
    : "";
  $("entered").textContent = m.entered.toLocaleString();
  $("exited").textContent = m.exited.toLocaleString();
  $("peak").textContent = `${m.peak.occupancy.toLocaleString()} at ${time(m.peak.at)}`;
  $("drift").textContent = m.previousDay === null ? "–" : m.previousDay.drift.toLocaleString();
  const most = Math.max(1, ...m.gates.flatMap((g) => [g.entered, g.exited]));
  const body = $("gates").querySelector("tbody")!;
  body.replaceChildren(
    ...m.gates.map((g) => {
      const row = document.createElement("tr");
      row.dataset.gate = g.gate;
      const name = document.createElement("td");
      name.textContent = g.gate;
      const counts = document.createElement("td");
      counts.textContent = `${g.entered.toLocaleString()} / ${g.exited.toLocaleString()}`;
      const bars = document.createElement("div");
      bars.className = "bars";
      for (const [kind, n] of [
        ["in", g.entered],
        ["out", g.exited],
      ] as const) {
        const bar = document.createElement("div");
        bar.className = `bar ${kind}`;
        bar.style.width = `${(n / most) * 100}%`;
        bars.append(bar);
      }
      counts.append(bars);
      const state = document.createElement("td");
      state.className = `state-${g.state}`;
      state.textContent = `${STATE_TEXT[g.state]}${g.scene.length > 0 ? ` (${g.scene.join(", ")})` : ""} since ${time(g.since)}`;
      row.append(name, counts, state);
      return row;
    }),
  );
  $("status").textContent = `as of ${time(m.lastIntervalEnd)} · updated ${time(m.ts)}`;
}

async function poll(): Promise<void> {
  try {
    const r = await fetch("/api/site");
    if (r.status === 401) return void location.reload();
    if (r.ok) render((await r.json()) as SiteMessage);
    else $("status").textContent = `the site process answers ${r.status}`;
  } catch {
    $("status").textContent = "the site process does not answer";
  }
}

async function start(): Promise<void> {
  const session = (await (await fetch("/api/session")).json()) as SessionAnswer;
  if (session.loginRequired && !session.authenticated) {
    const form = $<HTMLFormElement>("login");
    form.hidden = false;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const r = await fetch("/api/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token: $<HTMLInputElement>("token").value }),
      });
      if (r.ok) location.reload();
      else
        $("login-error").textContent = r.status === 429 ? "Too many attempts: wait a minute" : "Wrong token";
    });
    return;
  }
  $("site").hidden = false;
  await poll();
  setInterval(poll, 2000);
}

void start();
