// Call intake: a call entered in seconds, keyboard first. Type by search, location by address
// suggestions or a click on the map, possible duplicates beside the form with a one-click link.

import { $, api, el, fmtDuration, localName, start, t, toast, translate, uiConfig } from "./core.js";
import { Board, haversine, loadAndFollow, OPEN } from "./board.js";
import { createMap, drawBaseMap } from "./mapview.js";
import { Renderer } from "./renderer.js";
import { combo } from "./combo.js";

await start({ title: "nav.calltaker", roles: ["call_taker", "dispatcher", "commander", "admin"] });
const L = window.L;
const board = new Board();
const map = createMap("map");
const call = { type: null, point: null, idempotencyKey: crypto.randomUUID() };
let marker = null;
let geocoding = true;

// ---- type -------------------------------------------------------------------------------------
function typeLabel(ty) {
  return `P${ty.default_priority} · ${localName(ty.names, ty.code)} (${ty.code})`;
}

const typeCombo = combo($("#type-input"), $("#type-list"), {
  search: (q) => {
    const needle = q.trim().toLowerCase();
    const all = [...board.types.values()];
    const hits = needle ? all.filter((ty) => [ty.code, ...Object.values(ty.names)].some((n) => n.toLowerCase().includes(needle))) : all;
    return hits.sort((a, b) => a.default_priority - b.default_priority || a.code.localeCompare(b.code));
  },
  label: typeLabel,
  pick: (ty) => {
    call.type = ty;
    $("#type-input").value = localName(ty.names, ty.code);
    $("#address-input").focus();
    duplicates();
  },
  onType: () => { call.type = null; },
});

// ---- location ---------------------------------------------------------------------------------
function parsePlaces(data) {
  const items = Array.isArray(data) ? data : data.items || data.results || data.features || [];
  return items.map((p) => {
    const point = p.point || p.location || (p.geometry && { lon: p.geometry.coordinates[0], lat: p.geometry.coordinates[1] }) || p;
    const label = p.label || p.name || p.address || p.properties?.label || `${point.lat}, ${point.lon}`;
    return { label, lat: Number(point.lat), lon: Number(point.lon) };
  }).filter((p) => isFinite(p.lat) && isFinite(p.lon));
}

function noGeocoding() {
  geocoding = false;
  const hint = $("#address-hint");
  hint.dataset.i18n = "call.no_geocode";
  hint.textContent = t("call.no_geocode");
}

const addressCombo = combo($("#address-input"), $("#address-list"), {
  search: async (q) => {
    if (!geocoding || q.trim().length < 2) return [];
    try {
      return parsePlaces(await api(`/api/geocode?q=${encodeURIComponent(q.trim())}&limit=6`));
    } catch (err) {
      if ([404, 405, 501, 503].includes(err.status)) noGeocoding();
      return [];
    }
  },
  label: (p) => p.label,
  pick: (p) => {
    $("#address-input").value = p.label;
    setPoint(p.lat, p.lon, { pan: true });
    $("#caller-name").focus();
  },
  delay: 150,
  onType: () => { call.point = null; showPoint(); },
});

function showPoint() {
  const text = $("#location-text");
  if (!call.point) {
    text.textContent = t("call.no_location");
    if (marker) map.removeLayer(marker);
    marker = null;
    return;
  }
  text.textContent = `${call.point.lat.toFixed(5)}, ${call.point.lon.toFixed(5)}`;
  if (!marker) marker = L.circleMarker([call.point.lat, call.point.lon], { radius: 9, color: "#0b5cad", weight: 3, fillColor: "#fff", fillOpacity: 0.9 }).addTo(map);
  marker.setLatLng([call.point.lat, call.point.lon]);
}

function setPoint(lat, lon, { pan = false } = {}) {
  call.point = { lat, lon };
  showPoint();
  if (pan) map.setView([lat, lon], Math.max(map.getZoom(), 15));
  duplicates();
}

map.on("click", async (e) => {
  setPoint(e.latlng.lat, e.latlng.lng);
  if (!geocoding) return;
  try {
    const found = await api(`/api/geocode/reverse?lat=${e.latlng.lat}&lon=${e.latlng.lng}`);
    if (found.street && !$("#address-input").value.trim()) $("#address-input").value = found.street;
  } catch { /* a click alone is enough */ }
});

// ---- duplicates -------------------------------------------------------------------------------
function nearbyOpen() {
  if (!call.type || !call.point) return [];
  const cfg = uiConfig();
  const radius = cfg.duplicate_radius_m || 300;
  const windowS = cfg.duplicate_window_s || 1800;
  const now = Date.now();
  return board.openIncidents()
    .filter((inc) => inc.family === call.type.family && inc.status !== "cleared")
    .map((inc) => ({ incident_id: inc.id, type_code: inc.type_code, status: inc.status, distance_m: haversine(call.point, inc), age_s: (now - Date.parse(inc.received_at)) / 1000 }))
    .filter((d) => d.distance_m <= radius && d.age_s <= windowS)
    .sort((a, b) => a.distance_m - b.distance_m);
}

function dupCard(d, onLink) {
  return el("div", { class: "dup", dataset: { dup: d.incident_id } },
    el("b", { text: `${d.incident_id} · ${board.typeName(d.type_code, localName)}` }),
    el("div", { class: "muted", text: t("call.dup_line", { dist: Math.round(d.distance_m), age: fmtDuration(d.age_s), status: t(`status.${d.status}`) }) }),
    el("button", { type: "button", class: "secondary", text: t("call.link"), onclick: () => onLink(d.incident_id) }));
}

function duplicates(list = null, createdId = null) {
  const box = $("#dups");
  const found = list ?? nearbyOpen();
  if (!found.length) {
    box.replaceChildren(el("p", { class: "muted", text: t("call.dups_none") }));
    return;
  }
  box.replaceChildren(...found.map((d) => dupCard(d, (into) => (createdId ? link(createdId, into) : submit(into)))));
}

async function link(id, into) {
  try {
    await api(`/api/incidents/${encodeURIComponent(id)}/link`, { method: "POST", body: { into } });
    toast(t("call.linked", { id, into }), "ok");
    $("#dups").replaceChildren(el("p", { class: "result", text: t("call.linked", { id, into }) }));
  } catch (err) {
    toast(err.message, "error");
  }
}

// ---- submit -----------------------------------------------------------------------------------
function fail(key) {
  const box = $("#form-error");
  box.textContent = t(key);
  box.hidden = false;
}

async function submit(linkInto = null) {
  $("#form-error").hidden = true;
  if (!call.type) {
    fail("call.need_type");
    return $("#type-input").focus();
  }
  const address = $("#address-input").value.trim();
  if (!call.point && !address) {
    fail("call.need_location");
    return $("#address-input").focus();
  }
  const body = { type: call.type.code, description: $("#description").value.trim(), source: "public_call" };
  if ($("#priority").value) body.priority = Number($("#priority").value);
  if (call.point) body.location = call.point;
  if (address) body.address = address;
  const name = $("#caller-name").value.trim();
  const phone = $("#caller-phone").value.trim();
  if (name || phone) body.caller = { name: name || null, phone: phone || null };
  $("#submit").disabled = true;
  try {
    // The run card's units come back with the incident (not for a call about to be merged into
    // another): the call-taker can tell the caller help is on the way.
    const out = await api(`/api/incidents?recommend=${linkInto ? 0 : TO_SEND}`, { method: "POST", body, headers: { "Idempotency-Key": call.idempotencyKey } });
    const where = out.address || out.street || `${out.lat.toFixed(5)}, ${out.lon.toFixed(5)}`;
    $("#result").replaceChildren(el("div", { class: "result", dataset: { created: out.id } },
      el("b", { text: t("call.created", { id: out.id }) }), el("div", { text: t("call.created_at", { where, station: out.station_code || "–" }) }),
      linkInto ? null : toSend(out.recommendations || [])));
    reset();
    if (linkInto) await link(out.id, linkInto);
    else duplicates(out.possible_duplicates, out.id);
  } catch (err) {
    $("#form-error").textContent = err.message;
    $("#form-error").hidden = false;
  } finally {
    $("#submit").disabled = false;
  }
}

const TO_SEND = 5;

function toSend(recs) {
  const plan = recs.filter((r) => r.fills_plan);
  if (!plan.length) return el("div", { class: "to-send muted", text: t("call.none_free") });
  const units = plan.map((r) => `${r.call_sign} (${fmtDuration(r.eta_s)})`).join(", ");
  return el("div", { class: "to-send", text: t("call.to_send", { units }) });
}

function reset() {
  $("#call-form").reset();
  call.type = null;
  call.point = null;
  call.idempotencyKey = crypto.randomUUID();
  showPoint();
  typeCombo.close();
  addressCombo.close();
  $("#type-input").focus();
}

$("#call-form").addEventListener("submit", (e) => {
  e.preventDefault();
  submit();
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    submit();
  }
});

window.addEventListener("jingwu:lang", () => {
  if (call.type) $("#type-input").value = localName(call.type.names, call.type.code);
  showPoint();
  translate();
});

const renderer = new Renderer(() => { if (call.type && call.point) duplicates(); });
board.subscribe((change) => renderer.push(change));
await drawBaseMap(map);
await loadAndFollow(board, renderer, { withToday: false });
$("#call-fields").disabled = false;
$("#type-input").focus();
document.body.dataset.ready = "1";
