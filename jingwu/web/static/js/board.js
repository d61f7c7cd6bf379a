// The live picture: incidents and units as the API gave them, kept current by applying each
// committed event in order. Pages subscribe to changes; nothing here touches the DOM.

import { api, live, startOfToday } from "./core.js";

export const OPEN = new Set(["received", "dispatched", "en_route", "on_scene", "cleared"]);
export const BUSY = new Set(["dispatched", "en_route", "on_scene"]);
const STAMPS = { dispatched: "dispatched_at", en_route: "en_route_at", on_scene: "arrived_at", cleared: "cleared_at", closed: "closed_at" };
const AMBER_SHARE = 0.8;

export class Board {
  constructor() {
    this.incidents = new Map();
    this.units = new Map();
    this.types = new Map();
    this.targets = {};
    this.listeners = new Set();
    this.todayStart = 0;
  }

  async load({ withToday = true } = {}) {
    this.todayStart = startOfToday();
    const since = new Date(this.todayStart).toISOString();
    const [catalogue, open, today, units] = await Promise.all([
      api("/api/incident-types"),
      api("/api/incidents?open=true&limit=5000"),
      withToday ? api(`/api/incidents?since=${encodeURIComponent(since)}&limit=5000`) : { items: [] },
      api("/api/units"),
    ]);
    this.types = new Map(catalogue.types.map((ty) => [ty.code, ty]));
    this.targets = catalogue.targets;
    this.incidents = new Map();
    for (const inc of [...today.items, ...open.items]) this.incidents.set(inc.id, inc);
    this.units = new Map(units.map((u) => [u.id, u]));
    this.emit({ reset: true, incidents: new Set(this.incidents.keys()), units: new Set(this.units.keys()) });
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(change) {
    for (const fn of this.listeners) fn(change);
  }

  // Applies one event; returns what changed so callers can batch.
  apply(msg, change = { incidents: new Set(), units: new Set(), created: new Set() }) {
    const inc = msg.incident_id ? this.incidents.get(msg.incident_id) : null;
    switch (msg.kind) {
      case "IncidentReceived": {
        if (!inc) {
          const ty = this.types.get(msg.type_code);
          this.incidents.set(msg.incident_id, {
            id: msg.incident_id, type_code: msg.type_code, family: ty ? ty.family : "", priority: msg.priority,
            status: "received", lat: msg.lat, lon: msg.lon, station_code: msg.station_code, received_at: msg.at,
            received_by: msg.actor, source: msg.source, active_units: [], callers: 1, partial: true,
          });
          change.created.add(msg.incident_id);
        }
        change.incidents.add(msg.incident_id);
        break;
      }
      case "IncidentStatusChanged":
        if (inc) {
          inc.status = msg.new;
          const stamp = STAMPS[msg.new];
          if (stamp && !inc[stamp]) inc[stamp] = msg.at;
          change.incidents.add(inc.id);
        }
        break;
      case "IncidentUpdated":
        if (inc) {
          Object.assign(inc, msg.changes || {});
          change.incidents.add(inc.id);
        }
        break;
      case "IncidentMerged":
        if (inc) {
          inc.status = "merged";
          inc.merged_into = msg.into_incident_id;
          change.incidents.add(inc.id);
        }
        break;
      case "UnitAssigned":
        if (inc && !inc.active_units.includes(msg.unit_id)) inc.active_units = [...inc.active_units, msg.unit_id];
        if (inc) change.incidents.add(inc.id);
        this.touchUnit(msg.unit_id, { incident_id: msg.incident_id }, change);
        break;
      case "UnitReleased":
        if (inc) {
          inc.active_units = inc.active_units.filter((u) => u !== msg.unit_id);
          change.incidents.add(inc.id);
        }
        break;
      case "UnitStatusChanged":
        this.touchUnit(msg.unit_id, {
          status: msg.new, status_at: msg.at, call_sign: msg.call_sign,
          incident_id: msg.new === "available" || msg.new === "off_duty" ? null : msg.incident_id,
        }, change);
        break;
      case "UnitMoved": {
        const u = this.units.get(msg.unit_id);
        if (u && (!u.position_at || msg.at >= u.position_at)) {
          u.lat = msg.lat;
          u.lon = msg.lon;
          u.position_at = msg.at;
          change.units.add(u.id);
        }
        break;
      }
      default:
        break;
    }
    return change;
  }

  touchUnit(id, fields, change) {
    const u = this.units.get(id);
    if (!u) return;
    Object.assign(u, fields);
    change.units.add(id);
  }

  typeName(code, nameOf) {
    const ty = this.types.get(code);
    return ty ? nameOf(ty.names, code) : code;
  }

  openIncidents() {
    return [...this.incidents.values()].filter((i) => OPEN.has(i.status));
  }
}

// Stage timers as the server's timer loop sees them (jingwu.domain.timers): the running stage
// of an open incident, its elapsed time and level against the priority's targets.
export function stageTimer(inc, targets, now = Date.now()) {
  const tg = targets[String(inc.priority)];
  if (!tg) return null;
  let stage, start, target;
  if (inc.status === "received") {
    stage = "dispatch"; start = inc.received_at; target = tg.dispatch_s;
  } else if ((inc.status === "dispatched" || inc.status === "en_route") && inc.dispatched_at) {
    stage = "travel"; start = inc.dispatched_at; target = tg.travel_s;
  } else if (inc.status === "on_scene") {
    stage = "on_scene"; start = inc.arrived_at; target = null;
  } else if (inc.status === "cleared") {
    stage = "cleared"; start = inc.cleared_at; target = null;
  } else {
    return null;
  }
  const elapsed = (now - Date.parse(start || inc.received_at)) / 1000;
  const shown = { stage, elapsed, target, level: levelOf(elapsed, target) };
  // The response target (received → on scene) runs beside the stage until arrival; the timer shows
  // whichever of the two is worse.
  if (["received", "dispatched", "en_route"].includes(inc.status)) {
    const total = (now - Date.parse(inc.received_at)) / 1000;
    const response = { stage: "response", elapsed: total, target: tg.response_s, level: levelOf(total, tg.response_s) };
    if (RANK[response.level] > RANK[shown.level]) return response;
  }
  return shown;
}

const RANK = { ok: 0, amber: 1, red: 2 };
function levelOf(elapsed, target) {
  if (!target) return "ok";
  if (elapsed >= target) return "red";
  return elapsed >= AMBER_SHARE * target ? "amber" : "ok";
}

export function haversine(a, b) {
  const R = 6371008.8;
  const rad = Math.PI / 180;
  const dlat = (b.lat - a.lat) * rad;
  const dlon = (b.lon - a.lon) * rad;
  const h = Math.sin(dlat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dlon / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(h));
}

export function median(values) {
  if (!values.length) return null;
  const s = [...values].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Opens the event stream first and loads second, so nothing committed in between is lost; the
// events that arrive during the load are applied after it (applying one twice changes nothing).
export async function loadAndFollow(board, renderer, loadOptions = {}) {
  const early = [];
  let loaded = false;
  live((msg) => {
    if (loaded) renderer.push(board.apply(msg));
    else early.push(msg);
  }, { onReconnect: () => board.load(loadOptions) });
  await board.load(loadOptions);
  loaded = true;
  const change = { incidents: new Set(), units: new Set(), created: new Set() };
  for (const msg of early) board.apply(msg, change);
  renderer.push(change);
}
