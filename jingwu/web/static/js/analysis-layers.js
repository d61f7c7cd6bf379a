// Analysis on the command map (研判預警): hotspot and forecast layers, and early-warning alerts
// (surges, near-repeat series) as they are raised. Places and times only. Shown to roles with
// the analysis.read permission; layers are off until switched on, and load when first shown.

import { $, api, el, fmtTime, live, t, toast } from "./core.js";

const HOTSPOT_DAYS = 90;
const MAX_ALERTS = 20;

function hotspotStyle(feature) {
  const p = feature.properties || {};
  if (p.layer === "gi_star") {
    // Significant hot and cold spots (FDR-controlled); other hexagons with incidents stay faint.
    const colour = p.class === "hot" ? "#b42318" : p.class === "cold" ? "#1d4ed8" : "#98a2b3";
    return { color: colour, weight: 1, fillOpacity: p.class === "none" ? 0.05 : 0.35 };
  }
  return { color: "#e76f51", weight: 0, fillOpacity: 0.25 };
}

function forecastStyle() {
  return { color: "#7c3aed", weight: 1, fillOpacity: 0.3 };
}

function lazyLayer(map, url, style, label) {
  const layer = L.geoJSON(null, { style, interactive: false });
  let loaded = false;
  map.on("overlayadd", async (e) => {
    if (e.layer !== layer || loaded) return;
    loaded = true;
    try {
      const data = await api(url);
      layer.addData(data);
      const n = (data.features || []).length;
      toast(t("analysis.loaded", { layer: label, n }));
    } catch (err) {
      loaded = false;
      toast(`${label}: ${err.message}`, "error");
    }
  });
  return layer;
}

function alertText(msg) {
  const d = msg.detail || {};
  if (msg.alert_kind === "surge") {
    return t("analysis.surge", { area: msg.area, family: msg.family, observed: d.observed, expected: d.expected });
  }
  return t("analysis.near_repeat", { area: msg.area, family: msg.family, recent: d.recent, days: d.days });
}

export function addAnalysisLayers(map, me) {
  if (!me || !(me.permissions || []).includes("analysis.read")) return null;
  const since = new Date(Date.now() - HOTSPOT_DAYS * 86400_000).toISOString();
  const hotspots = lazyLayer(map, `/api/analysis/hotspots?since=${encodeURIComponent(since)}`, hotspotStyle,
    t("analysis.hotspots"));
  const forecast = lazyLayer(map, "/api/analysis/forecast?period=week", forecastStyle, t("analysis.forecast"));
  const alertsLayer = L.layerGroup().addTo(map);
  L.control.layers(null, {
    [t("analysis.hotspots")]: hotspots,
    [t("analysis.forecast")]: forecast,
    [t("analysis.alerts")]: alertsLayer,
  }, { collapsed: false, position: "topright" }).addTo(map);

  const box = el("section", { class: "alerts", id: "alerts", "aria-live": "polite" },
    el("h3", { text: t("analysis.alerts") }));
  const list = el("ol", { class: "alert-list" });
  box.append(list);
  $("#details").after(box);

  function show(msg) {
    const item = el("li", { class: `alert ${msg.alert_kind}` },
      el("time", { text: fmtTime(msg.at) }), " ", alertText(msg));
    list.prepend(item);
    while (list.children.length > MAX_ALERTS) list.lastChild.remove();
    const d = msg.detail || {};
    if (msg.alert_kind === "near_repeat" && d.lat != null) {
      L.circle([d.lat, d.lon], { radius: d.distance_m || 200, color: "#b42318", weight: 2, fill: false,
        dashArray: "4 4" }).bindTooltip(alertText(msg)).addTo(alertsLayer);
    }
  }

  live((msg) => { if (msg.kind === "AnalysisAlert") show(msg); }, { kinds: ["AnalysisAlert"] });
  api("/api/analysis/surges?days=1").then((surges) => {
    for (const s of surges.filter((x) => x.method === "ears_c2" || x.method === "poisson_cusum").slice(0, 10)) {
      show({ alert_kind: "surge", area: s.area, family: s.family, at: s.at, detail: s });
    }
  }).catch(() => {});
  return { hotspots, forecast, alertsLayer };
}
