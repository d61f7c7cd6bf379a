// The map every page shares: a base map drawn from the loaded roads and jurisdictions (no online
// tiles; a configured tile server is optional), incidents by priority and state, units by status.
// Leaflet is vendored (static/vendor/leaflet) and loaded as a classic script, so it is ``window.L``.

import { api, localName, t, uiConfig } from "./core.js";

const L = window.L;
export const PRIORITY_COLOURS = { 1: "#c81e1e", 2: "#f07c18", 3: "#d4b106", 4: "#2c7bb6" };
const LABEL_ZOOM = 13;
const ROAD_WEIGHT = { motorway: 4, trunk: 3.5, primary: 3, secondary: 2.5, tertiary: 2, unclassified: 1.5,
  residential: 1.2, living_street: 1, service: 0.8, road: 1 };

export function createMap(container, { zoomControl = true } = {}) {
  const map = L.map(container, { preferCanvas: true, zoomControl, attributionControl: true, minZoom: 8, zoomSnap: 0.25 });
  map.createPane("roads").style.zIndex = 250;
  map.createPane("areas").style.zIndex = 240;
  map.createPane("incidents").style.zIndex = 620; // above the unit markers: incidents are what matters
  const labels = () => map.getContainer().classList.toggle("labels-off", map.getZoom() < LABEL_ZOOM);
  map.on("zoomend", labels);
  map.whenReady(labels);
  map.setView([42.54, 1.57], 11);
  const cfg = uiConfig();
  if (cfg.tile_url) {
    L.tileLayer(cfg.tile_url, { attribution: cfg.tile_attribution || "", maxZoom: 19 }).addTo(map);
  }
  map.attributionControl.setPrefix("Leaflet · roads © OpenStreetMap contributors (ODbL)");
  return map;
}

// Jurisdictions from GET /api/org and roads from GET /api/map/roads (empty without a road network).
export async function drawBaseMap(map, { onStation } = {}) {
  const org = await api("/api/org");
  const renderer = L.canvas({ pane: "areas" });
  const stations = org.filter((u) => u.area);
  const areas = L.geoJSON(null, {
    renderer,
    style: (f) => ({ color: f.properties.level === "station" ? "#55606e" : "#8a96a3", weight: f.properties.level === "station" ? 1.5 : 1,
      dashArray: f.properties.level === "station" ? null : "4 4", fillColor: "#eef1f4", fillOpacity: 0.35 }),
    onEachFeature: (f, layer) => {
      layer.bindTooltip(escapeHtml(`${f.properties.name} (${f.properties.code})`), { sticky: true });
      if (onStation) layer.on("click", (e) => onStation(f.properties.code, e));
    },
  });
  for (const u of stations) {
    areas.addData({ type: "Feature", properties: { code: u.code, level: u.level, name: localName(u.names, u.name) }, geometry: u.area });
  }
  areas.addTo(map);
  if (stations.length) map.fitBounds(areas.getBounds(), { padding: [10, 10] });
  try {
    const roads = await api("/api/map/roads");
    if (roads.features.length) {
      L.geoJSON(roads, {
        renderer: L.canvas({ pane: "roads" }), interactive: false,
        style: (f) => ({ color: f.properties.rank <= 2 ? "#a05a2c" : "#7d8793", weight: ROAD_WEIGHT[f.properties.class] || 1, opacity: 0.8 }),
      }).addTo(map);
    }
  } catch { /* the jurisdictions alone are the base map */ }
  return org;
}

export function incidentStyle(inc, selected = false) {
  const colour = PRIORITY_COLOURS[inc.priority] || "#666";
  const s = { radius: inc.priority === 1 ? 8 : 6.5, color: "#1d232b", weight: 1.5, fillColor: colour, fillOpacity: 0.95, dashArray: null };
  if (inc.status === "dispatched" || inc.status === "en_route") Object.assign(s, { color: "#ffffff", weight: 2.5, dashArray: "3 3", fillOpacity: 0.8 });
  if (inc.status === "on_scene") Object.assign(s, { color: "#1d232b", weight: 3.5 });
  if (inc.status === "cleared") Object.assign(s, { fillOpacity: 0.25, color: colour, weight: 2 });
  if (selected) Object.assign(s, { color: "#00b3ff", weight: 4, dashArray: null, radius: s.radius + 3 });
  return s;
}

// Leaflet puts tooltip and icon strings into innerHTML: escape everything that came from data.
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function unitIcon(u) {
  return L.divIcon({
    className: `unit-marker st-${u.status}`,
    html: `<span>${escapeHtml(u.call_sign)}</span>`,
    iconSize: null,
    iconAnchor: [0, 0],
  });
}

// Incident and unit layers kept in step with a Board; ``visible(inc)`` is the page's filter.
export class BoardLayers {
  constructor(map, board, { visible = () => true, onIncident, onUnit } = {}) {
    this.map = map;
    this.board = board;
    this.visible = visible;
    this.onIncident = onIncident;
    this.onUnit = onUnit;
    this.incidentMarkers = new Map();
    this.unitMarkers = new Map();
    this.selected = null;
    // SVG, not canvas: above the unit markers, only the circles themselves take clicks
    this.renderer = L.svg({ padding: 0.2, pane: "incidents" });
    this.incidentLayer = L.layerGroup().addTo(map);
    this.unitLayer = L.layerGroup().addTo(map);
  }

  syncIncident(id) {
    const inc = this.board.incidents.get(id);
    let m = this.incidentMarkers.get(id);
    const show = inc && this.visible(inc);
    if (!show) {
      if (m) {
        this.incidentLayer.removeLayer(m);
        this.incidentMarkers.delete(id);
      }
      return;
    }
    const style = incidentStyle(inc, this.selected === id);
    if (!m) {
      m = L.circleMarker([inc.lat, inc.lon], { ...style, renderer: this.renderer });
      m.on("click", () => this.onIncident && this.onIncident(id));
      m.bindTooltip(() => this.incidentTooltip(id));
      this.incidentMarkers.set(id, m);
      this.incidentLayer.addLayer(m);
    } else {
      m.setLatLng([inc.lat, inc.lon]);
      m.setStyle(style);
      m.setRadius(style.radius);
    }
  }

  incidentTooltip(id) {
    const inc = this.board.incidents.get(id);
    if (!inc) return escapeHtml(id);
    return escapeHtml(`${inc.id} · P${inc.priority} · ${this.board.typeName(inc.type_code, localName)} · ${t(`status.${inc.status}`)}`);
  }

  syncUnit(id) {
    const u = this.board.units.get(id);
    let m = this.unitMarkers.get(id);
    if (!u || u.lat == null || u.status === "off_duty") {
      if (m) {
        this.unitLayer.removeLayer(m);
        this.unitMarkers.delete(id);
      }
      return;
    }
    if (!m) {
      m = L.marker([u.lat, u.lon], { icon: unitIcon(u), keyboard: false, riseOnHover: true });
      m.status = u.status;
      m.on("click", () => this.onUnit && this.onUnit(id));
      this.unitMarkers.set(id, m);
      this.unitLayer.addLayer(m);
      return;
    }
    m.setLatLng([u.lat, u.lon]);
    if (m.status !== u.status) {
      m.status = u.status;
      const node = m.getElement();
      if (node) node.className = node.className.replace(/st-[a-z_]+/, `st-${u.status}`);
      m.options.icon = unitIcon(u);
    }
  }

  syncAll() {
    for (const id of new Set([...this.board.incidents.keys(), ...this.incidentMarkers.keys()])) this.syncIncident(id);
    for (const id of new Set([...this.board.units.keys(), ...this.unitMarkers.keys()])) this.syncUnit(id);
  }

  apply(change) {
    if (change.reset) return this.syncAll();
    for (const id of change.incidents) this.syncIncident(id);
    for (const id of change.units) this.syncUnit(id);
  }

  select(id) {
    const before = this.selected;
    this.selected = id;
    if (before) this.syncIncident(before);
    if (id) {
      this.syncIncident(id);
      this.incidentMarkers.get(id)?.bringToFront();
    }
  }
}

// A route (GeoJSON LineString) drawn over everything; straight lines are dashed.
export class RouteLayer {
  constructor(map) {
    this.map = map;
    this.layer = null;
  }

  show(geometry, { straight = false, fit = false } = {}) {
    this.clear();
    if (!geometry) return;
    this.layer = L.geoJSON(geometry, { style: { color: "#0077ff", weight: 5, opacity: 0.85, dashArray: straight ? "8 8" : null } }).addTo(this.map);
    if (fit) this.map.fitBounds(this.layer.getBounds(), { padding: [40, 40], maxZoom: 16 });
  }

  clear() {
    if (this.layer) this.map.removeLayer(this.layer);
    this.layer = null;
  }
}
