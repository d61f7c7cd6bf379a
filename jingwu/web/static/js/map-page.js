// Command map: the whole area at a glance, live. Incidents by priority and state, units by status,
// station jurisdictions, filters, counters and a details panel.

import { $, el, fmtDuration, localName, start, t, translate } from "./core.js";
import { addAnalysisLayers } from "./analysis-layers.js";
import { BUSY, Board, loadAndFollow, OPEN, median } from "./board.js";
import { BoardLayers, createMap, drawBaseMap } from "./mapview.js";
import { incidentDetails, unitDetails } from "./details.js";
import { Renderer } from "./renderer.js";

const me = await start({ title: "nav.map" });
const board = new Board();
const filters = { type: "", priority: "", station: "" };
const visible = (inc) => OPEN.has(inc.status)
  && (!filters.type || inc.type_code === filters.type)
  && (!filters.priority || String(inc.priority) === filters.priority)
  && (!filters.station || inc.station_code === filters.station);

const map = createMap("map");
const layers = new BoardLayers(map, board, {
  visible,
  onIncident: (id) => showIncident(id),
  onUnit: (id) => showUnit(id),
});

function counters() {
  let open = 0;
  let hour = 0;
  const responses = [];
  const now = Date.now();
  const today = board.todayStart;
  for (const inc of board.incidents.values()) {
    if (visible(inc)) open += 1;
    const received = Date.parse(inc.received_at);
    if (now - received <= 3600_000) hour += 1;
    if (inc.arrived_at && received >= today) responses.push((Date.parse(inc.arrived_at) - received) / 1000);
  }
  let free = 0;
  let busy = 0;
  for (const u of board.units.values()) {
    if (filters.station && u.home_station !== filters.station) continue;
    if (u.status === "available") free += 1;
    else if (BUSY.has(u.status)) busy += 1;
  }
  $("#c-open").textContent = open;
  $("#c-free").textContent = free;
  $("#c-busy").textContent = busy;
  $("#c-hour").textContent = hour;
  $("#c-median").textContent = responses.length ? fmtDuration(median(responses)) : "–";
}

const renderer = new Renderer((change) => {
  layers.apply(change);
  counters();
  if (selected.kind === "unit" && change.units.has(selected.id)) showUnit(selected.id);
});
board.subscribe((change) => renderer.push(change));

const selected = { kind: null, id: null };
async function showIncident(id) {
  selected.kind = "incident";
  selected.id = id;
  layers.select(id);
  await incidentDetails($("#details"), board, id);
}

function showUnit(id) {
  selected.kind = "unit";
  selected.id = id;
  unitDetails($("#details"), board, id, showIncident);
}

function fillFilters(org) {
  const typeSel = $("#f-type");
  for (const o of [...typeSel.options].slice(1)) o.remove();
  const types = [...board.types.values()].sort((a, b) => localName(a.names).localeCompare(localName(b.names)));
  for (const ty of types) typeSel.append(el("option", { value: ty.code, text: localName(ty.names, ty.code) }));
  typeSel.value = filters.type;
  const stationSel = $("#f-station");
  if (stationSel.options.length === 1) {
    for (const u of org.filter((o) => o.level === "station")) {
      stationSel.append(el("option", { value: u.code, text: `${localName(u.names, u.name)} (${u.code})` }));
    }
  }
}

function legend() {
  const box = $("#legend");
  box.replaceChildren();
  for (const p of [1, 2, 3, 4]) {
    const dot = el("span", { class: `dot p${p}` });
    box.append(el("span", { class: "key" }, dot, `P${p}`));
  }
  for (const s of ["available", "dispatched", "en_route", "on_scene"]) {
    box.append(el("span", { class: "key" }, el("span", { class: `chip st-${s}`, text: t(`unit.${s}`) })));
  }
  box.append(el("span", { class: "key muted", text: t("map.legend_states") }));
}

$("#filters").addEventListener("change", () => {
  filters.type = $("#f-type").value;
  filters.priority = $("#f-priority").value;
  filters.station = $("#f-station").value;
  layers.syncAll();
  counters();
});
window.addEventListener("jingwu:lang", () => {
  fillFilters(org);
  legend();
  counters();
  if (selected.kind === "incident") showIncident(selected.id);
  if (selected.kind === "unit") showUnit(selected.id);
});

const org = await drawBaseMap(map);
addAnalysisLayers(map, me);
await loadAndFollow(board, renderer);
fillFilters(org);
legend();
translate();
setInterval(counters, 30_000);
document.body.dataset.ready = "1";
