"""Dispatch policy: who may be sent, and how a recommendation fills the run card.

Only available units with a known position and the needed capability are candidates; travel
estimates come from a ``TravelTimeEstimator`` (road network, or straight line flagged as such).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from jingwu.domain.incident_types import Capability
from jingwu.domain.travel import TravelEstimate
from jingwu.domain.unit import Unit, UnitStatus


@dataclass(frozen=True, slots=True)
class Recommendation:
    unit_id: str
    call_sign: str
    capability: Capability
    eta_s: float
    distance_m: float | None
    straight_distance_m: float
    method: str
    fills_plan: bool
    reason: str
    route: dict | None = None


def candidates(units: Iterable[Unit], capability: Capability) -> list[Unit]:
    return [
        u for u in units
        if u.status is UnitStatus.AVAILABLE and capability in u.capabilities and u.position is not None
    ]


def still_needed(plan: Mapping[Capability, int], assigned: Iterable[Unit]) -> dict[Capability, int]:
    """What the run card still lacks, given units already on the incident (each counts once)."""
    need = dict(plan)
    for unit in assigned:
        # most needed first, then by name: a set's order varies with the process's hash seed
        for cap in sorted(unit.capabilities, key=lambda c: (-need.get(c, 0), c.value)):
            if need.get(cap, 0) > 0:
                need[cap] -= 1
                break
    return {c: n for c, n in need.items() if n > 0}


def _explain(est: TravelEstimate, cap: Capability, role: str) -> str:
    km = (est.road_distance_m or est.straight_distance_m) / 1000
    how = "by road" if est.method == "road" else "straight line (no road route)"
    extra = f"; {est.note}" if est.note else ""
    return f"{role}: {cap.value}, ETA {est.eta_s / 60:.1f} min {how}, {km:.1f} km{extra}"


def rank(
    need: Mapping[Capability, int],
    estimates: Mapping[Capability, Sequence[TravelEstimate]],
    units: Mapping[str, Unit],
    limit: int,
) -> list[Recommendation]:
    """Plan-filling picks first (each the fastest not yet picked), then alternatives by ETA.

    A unit appears once, under the capability it was first picked for.
    """
    picked: list[Recommendation] = []
    used: set[str] = set()
    for cap in sorted(need, key=lambda c: c.value):
        count = need[cap]
        for est in estimates.get(cap, ()):
            if count == 0:
                break
            if est.unit_id in used:
                continue
            u = units[est.unit_id]
            picked.append(_recommend(u, est, cap, True, f"fills run card ({need[cap]} {cap.value} needed)"))
            used.add(est.unit_id)
            count -= 1
    alternatives: list[Recommendation] = []
    for cap, ests in estimates.items():
        for est in ests:
            if est.unit_id in used:
                continue
            used.add(est.unit_id)
            alternatives.append(_recommend(units[est.unit_id], est, cap, False, "alternative"))
    picked.sort(key=lambda r: r.eta_s)
    alternatives.sort(key=lambda r: r.eta_s)
    return (picked + alternatives)[: max(limit, len(picked))]


def _recommend(u: Unit, est: TravelEstimate, cap: Capability, fills: bool, role: str) -> Recommendation:
    return Recommendation(
        unit_id=u.id,
        call_sign=u.call_sign,
        capability=cap,
        eta_s=round(est.eta_s, 1),
        distance_m=None if est.road_distance_m is None else round(est.road_distance_m, 1),
        straight_distance_m=round(est.straight_distance_m, 1),
        method=est.method,
        fills_plan=fills,
        reason=_explain(est, cap, role),
        route=est.route,
    )
