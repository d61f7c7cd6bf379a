// Dispatcher console: the queue by priority then age with live stage timers, the recommended units
// with ETA and route on the map, one-click assignment or an override with a reason, the timeline.

import { $, api, el, fmtDuration, localName, start, t, toast, translate } from "./core.js";
import { Board, loadAndFollow, OPEN, stageTimer } from "./board.js";
import { BoardLayers, createMap, drawBaseMap, RouteLayer } from "./mapview.js";
import { incidentDetails } from "./details.js";
import { Renderer } from "./renderer.js";

const QUEUE_ROWS = 300;

await start({ title: "nav.console", roles: ["dispatcher", "commander", "admin"] });
const board = new Board();
const map = createMap("map");
const route = new RouteLayer(map);
const layers = new BoardLayers(map, board, { visible: (inc) => OPEN.has(inc.status), onIncident: (id) => select(id) });
let selected = null;
let recs = [];
let order = [];

function queueOrder() {
  return board.openIncidents().sort((a, b) => a.priority - b.priority || Date.parse(a.received_at) - Date.parse(b.received_at));
}

function renderQueue() {
  order = queueOrder();
  const body = $("#queue-rows");
  const rows = order.slice(0, QUEUE_ROWS).map((inc) => {
    const tr = el("tr", { tabindex: "-1", dataset: { id: inc.id }, "aria-selected": inc.id === selected ? "true" : "false", onclick: () => select(inc.id) },
      el("td", {}, el("span", { class: `prio p${inc.priority}`, text: `P${inc.priority}` })),
      el("td", {}, el("div", { text: board.typeName(inc.type_code, localName) }),
        el("div", { class: "muted", text: `${inc.station_code || ""} · ${inc.id}` })),
      el("td", { text: t(`status.${inc.status}`) }),
      el("td", {}, el("span", { class: "timer", dataset: { timer: inc.id } })));
    return tr;
  });
  const focused = document.activeElement?.closest?.("#queue-rows tr")?.dataset.id;
  body.replaceChildren(...rows);
  if (focused) body.querySelector(`tr[data-id="${CSS.escape(focused)}"]`)?.focus();
  $("#queue-count").textContent = `(${order.length})`;
  const more = $("#queue-more");
  more.hidden = order.length <= QUEUE_ROWS;
  more.textContent = t("console.more", { n: order.length - QUEUE_ROWS });
  tick();
}

// Stage timers tick every second on the client from the incident's own timestamps.
function tick() {
  const now = Date.now();
  for (const span of document.querySelectorAll("[data-timer]")) {
    const inc = board.incidents.get(span.dataset.timer);
    const st = inc && stageTimer(inc, board.targets, now);
    if (!st) {
      span.textContent = "";
      continue;
    }
    span.replaceChildren(el("small", { text: t(`stage.${st.stage}`) }), el("br"),
      `${fmtDuration(st.elapsed)}${st.target ? ` / ${fmtDuration(st.target)}` : ""}`);
    span.className = `timer ${st.level}`;
  }
}

function showRoute(rec, fit = false) {
  for (const li of document.querySelectorAll(".recs li")) li.classList.toggle("shown", li.dataset.unit === rec?.unit_id);
  if (!rec) return route.clear();
  const inc = board.incidents.get(selected);
  const unit = board.units.get(rec.unit_id);
  if (rec.route) return route.show(rec.route, { straight: false, fit });
  if (inc && unit && unit.lat != null) {
    route.show({ type: "LineString", coordinates: [[unit.lon, unit.lat], [inc.lon, inc.lat]] }, { straight: true, fit });
  }
}

async function assign(unitId, overrideReason = null) {
  try {
    const out = await api(`/api/incidents/${encodeURIComponent(selected)}/assignments`, {
      method: "POST", body: { unit_id: unitId, override_reason: overrideReason },
    });
    toast(t("console.assigned", { unit: out.call_sign, incident: out.incident_id }), "ok");
    await refreshPanel();
  } catch (err) {
    toast(err.message, "error");
  }
}

function recommendationsBox() {
  const box = el("section", { class: "recs-box" }, el("h3", { text: t("console.recommendations") }));
  if (!recs.length) {
    box.append(el("p", { class: "muted", text: t("console.no_recs") }));
  } else {
    const list = el("ol", { class: "recs" });
    recs.forEach((r, i) => {
      list.append(el("li", { dataset: { unit: r.unit_id }, onmouseenter: () => showRoute(r), onfocusin: () => showRoute(r) },
        el("div", {}, el("b", { text: r.call_sign }), " ", el("span", { class: "muted", text: `${t(`cap.${r.capability}`)} · ${r.method === "road" ? t("console.road") : t("console.straight")}` })),
        el("div", { class: "eta", title: t("console.eta"), text: fmtDuration(r.eta_s) }),
        el("div", { class: "why", text: `${r.reason}${r.fills_plan ? ` · ${t("console.fills_plan")}` : ""}` }),
        el("button", { type: "button", class: i === 0 ? "primary" : "secondary", dataset: { assign: r.unit_id }, text: t("console.assign"),
          onclick: () => (r.fills_plan ? assign(r.unit_id) : assign(r.unit_id, r.reason || "chosen by dispatcher")) })));
    });
    box.append(list);
  }
  const unitSel = el("select", { id: "override-unit", "aria-label": t("console.override_unit") });
  const free = [...board.units.values()].filter((u) => u.status === "available").sort((a, b) => a.call_sign.localeCompare(b.call_sign));
  for (const u of free) unitSel.append(el("option", { value: u.id, text: `${u.call_sign} (${u.home_station})` }));
  const reason = el("input", { id: "override-reason", placeholder: t("console.override_reason"), maxlength: "500" });
  box.append(el("form", { class: "override", onsubmit: (e) => {
    e.preventDefault();
    if (!reason.value.trim()) return reason.focus();
    assign(unitSel.value, reason.value.trim());
  } }, el("b", { text: t("console.override") }), unitSel, reason,
  el("button", { type: "submit", class: "secondary", text: t("console.override_submit") })));
  return box;
}

async function refreshPanel() {
  if (!selected) return;
  const id = selected;
  try {
    recs = await api(`/api/incidents/${encodeURIComponent(id)}/recommendations?limit=5`);
  } catch {
    recs = [];
  }
  if (id !== selected) return;
  const inc = await incidentDetails($("#panel"), board, id, { extra: recommendationsBox() });
  if (inc && id === selected) {
    showRoute(recs[0] || null, true);
    translate($("#panel"));
  }
}

async function select(id) {
  selected = id;
  layers.select(id);
  for (const tr of document.querySelectorAll("#queue-rows tr")) tr.setAttribute("aria-selected", tr.dataset.id === id ? "true" : "false");
  const inc = board.incidents.get(id);
  if (inc) map.panTo([inc.lat, inc.lon]);
  await refreshPanel();
}

let panelTimer = null;
const renderer = new Renderer((change) => {
  layers.apply(change);
  if (change.reset || change.incidents.size) renderQueue(); // a unit moving leaves the queue as it is
  if (selected && (change.incidents.has(selected) || change.reset)) {
    clearTimeout(panelTimer);
    panelTimer = setTimeout(refreshPanel, 150);
  }
});
board.subscribe((change) => renderer.push(change));

// Keyboard: ↑ ↓ move through the queue, Enter assigns the first recommendation.
document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, select, textarea, button")) return;
  const i = order.findIndex((inc) => inc.id === selected);
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    const next = order[Math.max(0, Math.min(order.length - 1, i + (e.key === "ArrowDown" ? 1 : -1)))];
    if (next) {
      select(next.id);
      document.querySelector(`#queue-rows tr[data-id="${CSS.escape(next.id)}"]`)?.focus();
    }
  } else if (e.key === "Enter" && selected && recs[0]) {
    e.preventDefault();
    assign(recs[0].unit_id, recs[0].fills_plan ? null : recs[0].reason || "chosen by dispatcher");
  }
});

window.addEventListener("jingwu:lang", () => {
  renderQueue();
  refreshPanel();
});
setInterval(tick, 1000);
await drawBaseMap(map);
await loadAndFollow(board, renderer, { withToday: false });
document.body.dataset.ready = "1";
