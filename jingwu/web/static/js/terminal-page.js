// Officer terminal (PWA): the current assignment with address and route, big status buttons,
// position sharing, a short scene report. Every action goes through the outbox, so it works
// without network and is replayed in order on reconnect.

import { $, api, el, fmtTime, live, localName, logout, me, setLang, start, t, toast, translate, currentLang } from "./core.js";
import { createMap, drawBaseMap, escapeHtml, PRIORITY_COLOURS, RouteLayer } from "./mapview.js";
import { Outbox } from "./outbox.js";

const STATE_KEY = "jingwu.terminal.state";
const MOVE_FOR_NEW_ROUTE_M = 150;
const POSITION_EVERY_MS = 5000;
const L = window.L;

await start({ title: "nav.terminal", roles: ["officer", "admin", "commander", "dispatcher"] });
localStorage.setItem("jingwu.me.terminal", JSON.stringify(me));
const unitId = me.unit_id || new URLSearchParams(location.search).get("unit");
const saved = JSON.parse(localStorage.getItem(STATE_KEY) || "{}");
const state = { unit: saved.unit || null, incident: saved.incident || null, types: saved.types || {}, routeFrom: null };

const outbox = new Outbox(me.username, {
  onChange: () => render(),
  onRejected: (item, status, detail) => {
    const message = Array.isArray(detail) ? detail.map((d) => d.message).join("; ") : String(status);
    if (item.kind === "report" && (status === 404 || status === 405)) {
      const kept = JSON.parse(localStorage.getItem("jingwu.reports") || "[]");
      kept.push(item);
      localStorage.setItem("jingwu.reports", JSON.stringify(kept));
      toast(t("term.report_unsupported"), "error");
    } else if (item.kind === "status" && (status === 409 || status === 422) && item.body.status === state.unit?.status) {
      // the same status sent twice (the first answer was lost): already done
    } else if (item.kind !== "position") {
      toast(t("term.rejected", { message }), "error");
    }
  },
  onDone: (item) => {
    if (item.kind === "status" && state.unit) state.unit.status = item.body.status; // shown now; the reload confirms it
    if (item.kind !== "position") reload();
  },
});

// ---- map --------------------------------------------------------------------------------------
const map = createMap("tmap", { zoomControl: false });
const route = new RouteLayer(map);
let incidentMarker = null;
let unitMarker = null;
drawBaseMap(map).catch(() => {});

function drawMap() {
  const { unit, incident } = state;
  if (incident) {
    if (!incidentMarker) incidentMarker = L.circleMarker([incident.lat, incident.lon], { radius: 10, color: "#000", weight: 2, fillOpacity: 1 }).addTo(map);
    incidentMarker.setLatLng([incident.lat, incident.lon]).setStyle({ fillColor: PRIORITY_COLOURS[incident.priority] });
  } else if (incidentMarker) {
    map.removeLayer(incidentMarker);
    incidentMarker = null;
    route.clear();
  }
  if (unit && unit.lat != null) {
    const icon = L.divIcon({ className: `unit-marker st-${projectedStatus()}`, html: `<span>${escapeHtml(unit.call_sign)}</span>`, iconSize: null });
    if (!unitMarker) unitMarker = L.marker([unit.lat, unit.lon], { icon, keyboard: false }).addTo(map);
    unitMarker.setLatLng([unit.lat, unit.lon]).setIcon(icon);
  }
  const points = [incident && [incident.lat, incident.lon], unit && unit.lat != null && [unit.lat, unit.lon]].filter(Boolean);
  if (points.length === 2) map.fitBounds(points, { padding: [30, 30], maxZoom: 16 });
  else if (points.length === 1) map.setView(points[0], 15);
}

async function updateRoute() {
  const { unit, incident } = state;
  if (!incident || !unit || unit.lat == null || !navigator.onLine) return;
  const from = state.routeFrom;
  if (from && from.incident === incident.id && Math.hypot((from.lat - unit.lat) * 111000, (from.lon - unit.lon) * 82000) < MOVE_FOR_NEW_ROUTE_M) return;
  state.routeFrom = { incident: incident.id, lat: unit.lat, lon: unit.lon };
  try {
    const found = await api(`/api/map/route?from_lat=${unit.lat}&from_lon=${unit.lon}&to_lat=${incident.lat}&to_lon=${incident.lon}`);
    route.show(found.route, { straight: !found.road });
  } catch { /* keep the last route */ }
}

// ---- state ------------------------------------------------------------------------------------
function projectedStatus() {
  const queued = outbox.items.filter((i) => i.kind === "status");
  return queued.length ? queued[queued.length - 1].body.status : state.unit?.status;
}

function render() {
  const status = projectedStatus();
  const { unit, incident } = state;
  $("#call-sign").textContent = unit ? unit.call_sign : t("term.no_unit");
  const chip = $("#unit-status");
  chip.textContent = status ? t(`unit.${status}`) : "";
  chip.className = `chip st-${status}`;
  const busy = ["dispatched", "en_route", "on_scene"].includes(status);
  $("#btn-en_route").disabled = status !== "dispatched";
  $("#btn-on_scene").disabled = !busy;
  $("#btn-clear").disabled = !busy;
  for (const b of document.querySelectorAll(".big")) {
    b.classList.toggle("pending", outbox.items.some((i) => i.kind === "status" && i.body.status === b.dataset.status));
  }
  const box = $("#outbox");
  box.hidden = outbox.items.length === 0;
  box.textContent = t("term.queued", { n: outbox.items.length });
  box.dataset.count = outbox.items.length;
  const body = $("#assignment-body");
  if (!incident || !busy) {
    body.replaceChildren(el("p", { class: "muted", text: t("term.none") }));
  } else {
    const names = state.types[incident.type_code];
    body.replaceChildren(
      el("p", { class: "incident-title" }, el("span", { class: `prio p${incident.priority}`, text: `P${incident.priority}` }), ` ${localName(names, incident.type_code)}`),
      el("p", { class: "address", text: incident.address || incident.street || `${incident.lat.toFixed(5)}, ${incident.lon.toFixed(5)}` }),
      el("p", { class: "muted", text: `${incident.id} · ${fmtTime(incident.received_at)}` }),
      incident.description ? el("p", { text: incident.description }) : null,
    );
    body.dataset.incident = incident.id;
  }
  $("#position-text").textContent = unit && unit.lat != null ? `${unit.lat.toFixed(5)}, ${unit.lon.toFixed(5)} (${fmtTime(unit.position_at)})` : "–";
  drawMap();
}

// The incident of the assignment; if the server will not show it (an incident outside the officer's
// station), the terminal still shows that there is one, with the unit's own position.
async function readIncident(id) {
  try {
    const inc = await api(`/api/incidents/${encodeURIComponent(id)}`);
    delete inc.timeline;
    return inc;
  } catch (err) {
    if (!err.status) throw err;
    return state.incident && state.incident.id === id ? state.incident : null;
  }
}

// One reload at a time; a reload asked for while one is under way runs again after it, since the one
// under way may have read the unit before the change that asked for it.
let reloading = null;
let reloadAgain = false;
async function reload() {
  if (!unitId) return render();
  if (reloading) {
    reloadAgain = true;
    return reloading;
  }
  reloading = (async () => {
    try {
      state.unit = await api(`/api/units/${encodeURIComponent(unitId)}`);
      delete state.unit.timeline;
      state.incident = state.unit.incident_id ? await readIncident(state.unit.incident_id) : null;
      if (!Object.keys(state.types).length) {
        const cat = await api("/api/incident-types");
        state.types = Object.fromEntries(cat.types.map((ty) => [ty.code, ty.names]));
      }
      localStorage.setItem(STATE_KEY, JSON.stringify({ unit: state.unit, incident: state.incident, types: state.types }));
    } catch { /* offline: show what we had */ }
    render();
    updateRoute();
  })().finally(() => {
    reloading = null;
    if (reloadAgain) {
      reloadAgain = false;
      reload();
    }
  });
  return reloading;
}

// ---- actions ----------------------------------------------------------------------------------
for (const button of document.querySelectorAll(".big")) {
  button.addEventListener("click", () => {
    outbox.add("status", `/api/units/${encodeURIComponent(unitId)}/status`, { status: button.dataset.status });
    render();
  });
}

let watch = null;
let lastSent = 0;
$("#share").addEventListener("change", (e) => {
  if (!e.target.checked) {
    if (watch != null) navigator.geolocation.clearWatch(watch);
    watch = null;
    return;
  }
  if (!navigator.geolocation) {
    e.target.checked = false;
    return toast(t("term.no_geo"), "error");
  }
  watch = navigator.geolocation.watchPosition((pos) => {
    const now = Date.now();
    if (now - lastSent < POSITION_EVERY_MS) return;
    lastSent = now;
    const c = pos.coords;
    const body = { lat: c.latitude, lon: c.longitude, at: new Date(pos.timestamp || now).toISOString() };
    if (c.speed != null && c.speed >= 0) body.speed_mps = Math.min(c.speed, 120);
    if (c.heading != null && c.heading >= 0 && c.heading < 360) body.heading = c.heading;
    outbox.add("position", `/api/units/${encodeURIComponent(unitId)}/position`, body);
    if (state.unit) Object.assign(state.unit, { lat: body.lat, lon: body.lon, position_at: body.at });
    render();
  }, () => {
    e.target.checked = false;
    toast(t("term.no_geo"), "error");
  }, { enableHighAccuracy: true, maximumAge: 5000 });
});

$("#report-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("#report").value.trim();
  if (!text || !state.incident) return;
  outbox.add("report", `/api/incidents/${encodeURIComponent(state.incident.id)}/report`, { text, at: new Date().toISOString() });
  $("#report").value = "";
});

$("#lang").value = currentLang();
$("#lang").addEventListener("change", (e) => setLang(e.target.value));
$("#logout").addEventListener("click", logout);
window.addEventListener("jingwu:lang", render);

// ---- live -------------------------------------------------------------------------------------
let pendingReload = null;
live((msg) => {
  if (msg.kind === "UnitMoved" && msg.unit_id === unitId && state.unit) {
    if (!state.unit.position_at || msg.at >= state.unit.position_at) Object.assign(state.unit, { lat: msg.lat, lon: msg.lon, position_at: msg.at });
    render();
    updateRoute();
    return;
  }
  if (msg.unit_id === unitId || (state.incident && msg.incident_id === state.incident.id)) {
    clearTimeout(pendingReload);
    pendingReload = setTimeout(reload, 100);
  }
}, { onReconnect: () => { outbox.flush(); reload(); } });

if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js", { scope: "/terminal" }).catch(() => {});
translate();
await reload();
outbox.flush();
document.body.dataset.ready = "1";
