"""What a drill keeps: the pace it works at, and a record of every incident and unit, from which
``jingwu.sim.report`` works out the figures."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from jingwu.domain.geography import GeoPoint
from jingwu.domain.unit import UnitStatus
from jingwu.sim.calls import SimCall
from jingwu.sim.desk import Leg, UnitInfo
from jingwu.sim.movement import Trip, standing


@dataclass(frozen=True)
class Pace:
    """How the command centre and its units work, beyond what each call carries."""

    turnout_s: Mapping[int, float]
    backup_on_scene_factor: float = 1.0
    close_after_s: float | None = None
    position_every_s: float | None = None
    """Report moving units' positions this often (simulated seconds); None = only at stops."""
    drain_s: float = 12 * 3600
    """After the last call, keep going this long at most for the incidents still open."""
    queue_poll_s: float | None = None
    """Also look at the queue this often (several desks share the units: another desk's unit may
    have come free)."""


@dataclass
class IncidentRecord:
    id: str
    call: SimCall
    need: dict[str, int]
    decided_at: float | None = None
    first_dispatch: float | None = None
    first_arrival: float | None = None
    cleared_at: float | None = None
    waited: bool = False
    """No unit could be sent when the dispatcher first tried."""
    assigned: list[str] = field(default_factory=list)
    active: int = 0
    callers: int = 1

    @property
    def received(self) -> float:
        return self.call.at

    @property
    def priority(self) -> int:
        return self.call.priority

    _missing: tuple[int, dict[str, int]] | None = field(default=None, repr=False, compare=False)

    def missing(self, caps_of: Callable[[str], frozenset[str]]) -> dict[str, int]:
        """What the run card still lacks (each unit counted once, as the dispatch policy does).

        Asked for every waiting incident each time a unit clears; units only ever join ``assigned``
        and never change capabilities, so the answer is kept until another unit joins."""
        known = self._missing
        if known is not None and known[0] == len(self.assigned):
            return dict(known[1])
        need = dict(self.need)
        for uid in self.assigned:
            for cap in sorted(caps_of(uid), key=lambda c: (-need.get(c, 0), c)):  # as still_needed
                if need.get(cap, 0) > 0:
                    need[cap] -= 1
                    break
        lacking = {c: n for c, n in need.items() if n > 0}
        self._missing = (len(self.assigned), lacking)
        return dict(lacking)


@dataclass
class UnitRecord:
    id: str
    call_sign: str
    station: str
    capabilities: frozenset[str]
    patrol: GeoPoint
    trip: Trip
    free: bool = True
    incident: str | None = None
    generation: int = 0
    busy_since: float | None = None
    busy: list[tuple[float, float]] = field(default_factory=list)
    assignments: int = 0
    reported: GeoPoint | None = None
    way_out: Leg | None = None
    """The leg driven from the patrol point to the current incident (driven back in reverse)."""

    def moving(self, t: float) -> bool:
        return self.trip.seconds > 0 and self.trip.depart <= t < self.trip.arrive


@dataclass
class Outcome:
    """What a drill (or several desks' drills together) measured, for ``jingwu.sim.report``."""

    incidents: list[IncidentRecord]
    units: list[UnitRecord]
    horizon_s: float
    now: float
    turnout_s: Mapping[int, float]
    calls: int = 0
    duplicate_calls: int = 0
    linked: int = 0
    max_queue: int = 0
    unanswerable: int = 0
    asked_again: int = 0

    @classmethod
    def merged(cls, parts: list[Outcome]) -> Outcome:
        units = {id(u): u for p in parts for u in p.units}
        return cls(
            incidents=sorted((i for p in parts for i in p.incidents), key=lambda i: i.received),
            units=list(units.values()), horizon_s=max(p.horizon_s for p in parts), now=max(p.now for p in parts),
            turnout_s=parts[0].turnout_s, calls=sum(p.calls for p in parts),
            duplicate_calls=sum(p.duplicate_calls for p in parts), linked=sum(p.linked for p in parts),
            max_queue=sum(p.max_queue for p in parts), unanswerable=sum(p.unanswerable for p in parts),
            asked_again=sum(p.asked_again for p in parts),
        )


BUSY = frozenset({UnitStatus.DISPATCHED.value, UnitStatus.EN_ROUTE.value, UnitStatus.ON_SCENE.value})


def units_board(roster: Iterable[UnitInfo]) -> dict[str, UnitRecord]:
    """The drill's view of the units on duty (shared by several desks in a load run)."""
    board = {}
    for u in roster:
        if u.position is None or u.status == UnitStatus.OFF_DUTY.value:
            continue
        board[u.id] = UnitRecord(u.id, u.call_sign, u.home_station, u.capabilities, u.position,
                                 standing(u.position, 0.0), free=u.status == UnitStatus.AVAILABLE.value,
                                 reported=u.position)
    return board
