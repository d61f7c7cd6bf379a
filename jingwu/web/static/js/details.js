// Detail panels for one incident (with its timeline) or one unit, shared by the map and the console.

import { api, el, fmtDateTime, fmtTime, localName, t } from "./core.js";

export function describeTimeline(entry) {
  const d = entry.data || {};
  switch (entry.kind) {
    case "IncidentReceived": return t("tl.received", { priority: d.priority ?? "" });
    case "IncidentStatusChanged": return t("tl.status", { old: t(`status.${d.old}`), new: t(`status.${d.new}`) }) + (d.reason ? ` — ${d.reason}` : "");
    case "UnitAssigned": return t(d.recommended ? "tl.assigned" : "tl.assigned_override", { unit: d.call_sign || d.unit_id, reason: d.override_reason || "" });
    case "UnitReleased": return t("tl.released", { unit: d.unit_id, reason: d.reason || "" });
    case "UnitStatusChanged": return t("tl.unit_status", { unit: d.call_sign || d.unit_id, new: t(`unit.${d.new}`) });
    case "IncidentMerged": return t("tl.merged", { into: d.into_incident_id });
    case "IncidentUpdated": return t("tl.updated", { changes: Object.keys(d.changes || {}).join(", ") });
    case "TimerBreached": return t("tl.timer", { stage: t(`stage.${d.stage}`), level: t(`level.${d.level}`) });
    default: return entry.kind;
  }
}

export function timelineList(entries) {
  const list = el("ol", { class: "timeline" });
  for (const e of entries) {
    list.append(el("li", {}, el("time", { datetime: e.at, text: fmtTime(e.at) }), el("span", { text: ` ${describeTimeline(e)} ` }),
      el("span", { class: "muted", text: e.actor })));
  }
  return list;
}

function row(label, value) {
  return value == null || value === "" ? null : el("div", { class: "kv" }, el("dt", { text: t(label) }), el("dd", { text: String(value) }));
}

export async function incidentDetails(box, board, id, { extra } = {}) {
  box.replaceChildren(el("p", { class: "muted", text: t("common.loading") }));
  let inc;
  try {
    inc = await api(`/api/incidents/${encodeURIComponent(id)}`);
  } catch (err) {
    box.replaceChildren(el("p", { class: "error", text: err.message }));
    return null;
  }
  const calls = inc.active_units.map((u) => board.units.get(u)?.call_sign || u).join(", ");
  box.replaceChildren(
    el("h2", {}, el("span", { class: `prio p${inc.priority}`, text: `P${inc.priority}` }), ` ${board.typeName(inc.type_code, localName)}`),
    el("p", { class: "muted", text: inc.id }),
    el("dl", { class: "kvs" },
      row("field.status", t(`status.${inc.status}`)),
      row("field.address", inc.address || inc.street || `${inc.lat.toFixed(5)}, ${inc.lon.toFixed(5)}`),
      row("field.station", inc.station_code),
      row("field.received", fmtDateTime(inc.received_at)),
      row("field.units", calls),
      row("field.callers", inc.callers),
      row("field.description", inc.description)),
    extra || null,
    el("h3", { text: t("field.timeline") }),
    timelineList(inc.timeline),
  );
  return inc;
}

export function unitDetails(box, board, id, openIncident) {
  const u = board.units.get(id);
  if (!u) return;
  const link = u.incident_id
    ? el("button", { type: "button", class: "link", text: u.incident_id, onclick: () => openIncident(u.incident_id) })
    : null;
  box.replaceChildren(
    el("h2", {}, el("span", { class: `chip st-${u.status}`, text: u.call_sign })),
    el("dl", { class: "kvs" },
      row("field.status", t(`unit.${u.status}`)),
      row("field.station", u.home_station),
      row("field.capabilities", (u.capabilities || []).map((c) => t(`cap.${c}`)).join(", ")),
      row("field.crew", u.crew_size),
      row("field.position_at", fmtTime(u.position_at))),
    link ? el("div", { class: "kv" }, el("dt", { text: t("field.incident") }), el("dd", {}, link)) : null,
  );
}
