"""The drill's figures: calls, response times against each priority's target, queue waits and unit
utilisation, as one JSON-ready dict (the CLI prints it, writes it, and charts it).

Definitions (all in simulated seconds, from the drill's own clock):

* response time: call received → first unit on scene (the catalogue's ``response_s`` target);
* queue wait: dispatcher's first attempt → first unit assigned (0 when a unit was free);
  the M/M/c "waiting time in queue" when call processing takes no time;
* dispatch delay: call received → first unit assigned (processing + queue wait);
* utilisation: time units spend assigned (dispatched → clear) within the drill's window, over the
  time they are on duty; by unit kind (a unit's most specific skill) and by station.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from jingwu.domain.incident_types import PRIORITIES, IncidentTypeCatalogue
from jingwu.sim.records import IncidentRecord, Outcome, UnitRecord


def _stats(values: Iterable[float]) -> dict[str, float | int | None]:
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        return {"n": 0, "p50": None, "p90": None, "mean": None, "max": None}
    return {"n": int(arr.size), "p50": round(float(np.percentile(arr, 50)), 1),
            "p90": round(float(np.percentile(arr, 90)), 1), "mean": round(float(arr.mean()), 1),
            "max": round(float(arr.max()), 1)}


def unit_kind(capabilities: frozenset[str]) -> str:
    specific = sorted(c for c in capabilities if c != "patrol")
    return specific[0] if specific else "patrol"


def busy_within(unit: UnitRecord, start: float, end: float, now: float) -> float:
    spans = list(unit.busy)
    if unit.busy_since is not None:
        spans.append((unit.busy_since, now))
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)


def response_figures(incidents: list[IncidentRecord], catalogue: IncidentTypeCatalogue) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in (*PRIORITIES, None):
        group = [i for i in incidents if p is None or i.priority == p]
        reached = [i.first_arrival - i.received for i in group if i.first_arrival is not None]
        entry = _stats(reached)
        if p is not None:
            target = catalogue.targets_for(p).response_s
            met = sum(1 for r in reached if r <= target)
            entry |= {"target_s": target, "met_share": round(met / len(group), 4) if group else None}
        entry["unreached"] = len(group) - len(reached)
        out[str(p) if p is not None else "all"] = entry
    return out


def wait_figures(incidents: list[IncidentRecord]) -> tuple[dict[str, Any], dict[str, Any]]:
    queue: dict[str, Any] = {}
    delay: dict[str, Any] = {}
    for p in (*PRIORITIES, None):
        group = [i for i in incidents if (p is None or i.priority == p) and i.decided_at is not None]
        sent = [i for i in group if i.first_dispatch is not None]
        waits = [i.first_dispatch - i.decided_at for i in sent]  # type: ignore[operator]
        key = str(p) if p is not None else "all"
        queue[key] = _stats(waits) | {
            "waited_share": round(sum(i.waited for i in group) / len(group), 4) if group else None}
        delay[key] = _stats(i.first_dispatch - i.received for i in sent)  # type: ignore[operator]
    return queue, delay


def utilisation(units: Iterable[UnitRecord], horizon_s: float, now: float) -> dict[str, Any]:
    units = list(units)
    if not units or horizon_s <= 0:
        return {"overall": None}
    busy = {u.id: busy_within(u, 0.0, horizon_s, now) for u in units}
    kinds: dict[str, list[str]] = defaultdict(list)
    stations: dict[str, list[str]] = defaultdict(list)
    for u in units:
        kinds[unit_kind(u.capabilities)].append(u.id)
        stations[u.station].append(u.id)

    def share(ids: list[str]) -> float:
        return round(sum(busy[i] for i in ids) / (len(ids) * horizon_s), 4)

    per_unit = np.array([busy[u.id] / horizon_s for u in units])
    return {
        "overall": share([u.id for u in units]),
        "by_kind": {k: {"units": len(v), "utilisation": share(v)} for k, v in sorted(kinds.items())},
        "by_station": {k: {"units": len(v), "utilisation": share(v)} for k, v in sorted(stations.items())},
        "per_unit": {"min": round(float(per_unit.min()), 4), "p50": round(float(np.median(per_unit)), 4),
                     "max": round(float(per_unit.max()), 4)},
    }


def hourly(out: Outcome) -> list[dict[str, Any]]:
    """Per hour of the window: calls, busy units on average, p90 response of incidents received."""
    hours = max(1, int(np.ceil(out.horizon_s / 3600)))
    calls = np.zeros(hours, dtype=int)
    for inc in out.incidents:
        h = int(inc.received // 3600)
        if h < hours:
            calls[h] += inc.callers
    rows = []
    for h in range(hours):
        a, b = h * 3600.0, min((h + 1) * 3600.0, out.horizon_s)
        busy = sum(busy_within(u, a, b, out.now) for u in out.units) / max(1.0, b - a)
        resp = [i.first_arrival - i.received for i in out.incidents
                if i.first_arrival is not None and a <= i.received < b]
        rows.append({"hour": h, "calls": int(calls[h]), "busy_units": round(busy, 2),
                     "p90_response_s": round(float(np.percentile(resp, 90)), 1) if resp else None})
    return rows


def drill_report(out: Outcome, catalogue: IncidentTypeCatalogue, scenario: dict[str, Any]) -> dict[str, Any]:
    incidents = out.incidents
    queue, delay = wait_figures(incidents)
    by_priority = {str(p): sum(1 for i in incidents if i.priority == p) for p in PRIORITIES}
    travel = [i.first_arrival - i.first_dispatch - out.turnout_s.get(i.priority, 0.0)
              for i in incidents if i.first_arrival is not None and i.first_dispatch is not None]
    return {
        "scenario": scenario,
        "calls": out.calls,
        "incidents": len(incidents),
        "incidents_by_priority": by_priority,
        "duplicates": {"calls": out.duplicate_calls, "linked": out.linked},
        "response_time_s": response_figures(incidents, catalogue),
        "queue_wait_s": queue,
        "dispatch_delay_s": delay,
        "travel_s": _stats(travel),
        "utilisation": utilisation(out.units, out.horizon_s, out.now),
        "max_queue": out.max_queue,
        "unanswered": sum(1 for i in incidents if i.first_arrival is None),
        "unanswerable": out.unanswerable,
        "recommendation_asked_again": out.asked_again,
        "hourly": hourly(out),
    }
