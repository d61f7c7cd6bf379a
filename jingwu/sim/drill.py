"""The drill (實戰演練): calls arrive, the command centre takes and dispatches them, units drive,
work the scene, clear and go back on patrol, all through a ``Desk`` onto the real system.

What happens, in simulated time:

1. a call arrives → the call-taker takes it (``receive``); if the caller reports an event already
   on the board and intake offers that incident as a possible duplicate, it is linked instead;
2. after the call-processing time the dispatcher asks for the recommendation and assigns the units
   that fill the run card; an incident short of units waits in the queue, highest priority first,
   then oldest, and is served as soon as a suitable unit clears;
3. each unit turns out, reports en route, drives the route (road route or straight line) in the
   recommended time, reports its position and on scene, works the scene, clears (available) and
   drives back to its patrol post in its station's area, where it reports its position again;
4. when the last unit clears, the dispatcher closes the incident.

Positions are written only when a unit arrives, returns, or is dispatched away from where it last
reported, unless ``position_every_s`` asks for a live map (the demo). Everything measured is kept
in the records of ``jingwu.sim.records`` for ``jingwu.sim.report``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Mapping

from jingwu.domain.geography import GeoPoint
from jingwu.domain.incident_types import IncidentTypeCatalogue
from jingwu.domain.unit import UnitStatus
from jingwu.sim.calls import SimCall
from jingwu.sim.desk import Desk, Leg, Pick, UnitInfo
from jingwu.sim.engine import Scheduler
from jingwu.sim.movement import Trip, joined, standing
from jingwu.sim.records import BUSY, IncidentRecord, Outcome, Pace, UnitRecord, units_board

MAX_ASKS = 4


class Drill:
    def __init__(self, desk: Desk, sched: Scheduler, catalogue: IncidentTypeCatalogue, pace: Pace,
                 roster: Iterable[UnitInfo], *, horizon_s: float, key_prefix: str = "drill",
                 board: dict[str, UnitRecord] | None = None) -> None:
        self.desk = desk
        self.sched = sched
        self.catalogue = catalogue
        self.pace = pace
        self.horizon_s = horizon_s
        self.key_prefix = key_prefix
        roster = list(roster)
        self.units: dict[str, UnitRecord] = board if board is not None else units_board(roster)
        self.leftovers = [u for u in roster if u.id in self.units and u.status in BUSY]
        """Units already busy when the drill starts (a previous run): see ``release_leftovers``."""
        self.incidents: dict[str, IncidentRecord] = {}
        self.by_event: dict[str, IncidentRecord] = {}
        self.queue: list[tuple[int, float, int, str]] = []
        self.queued: set[str] = set()
        self.calls = 0
        self.linked = 0
        self.duplicate_calls = 0
        self.max_queue = 0
        self.open = 0
        self.unanswerable = 0
        self.asked_again = 0
        """Times a recommended unit was refused at assignment and the dispatcher asked again."""
        self._seq = itertools.count()
        self._calls: Iterator[SimCall] = iter(())
        self._calls_done = False

    def outcome(self) -> Outcome:
        return Outcome(
            incidents=sorted(self.incidents.values(), key=lambda i: i.received), units=list(self.units.values()),
            horizon_s=self.horizon_s, now=self.sched.now, turnout_s=self.pace.turnout_s, calls=self.calls,
            duplicate_calls=self.duplicate_calls, linked=self.linked, max_queue=self.max_queue,
            unanswerable=self.unanswerable, asked_again=self.asked_again,
        )

    # --- driving the run ------------------------------------------------------------------------

    def run(self, calls: Iterable[SimCall]) -> None:
        """Feed ``calls`` (in time order) and run until they are all handled or the drain ends."""
        self._calls = iter(calls)
        self._next_call()
        if self.pace.queue_poll_s:
            self.sched.after(self.pace.queue_poll_s, self._poll_queue)
        self.sched.run(until=self.horizon_s + self.pace.drain_s)

    def _poll_queue(self) -> None:
        self._serve_queue()
        if not (self._calls_done and self.open == 0) and self.pace.queue_poll_s:
            self.sched.after(self.pace.queue_poll_s, self._poll_queue)

    def take_posts(self, posts: Mapping[str, GeoPoint]) -> None:
        """Free units start the shift at their patrol posts (and come back to them after each job)."""
        for unit_id, post in posts.items():
            unit = self.units.get(unit_id)
            if unit is None or not unit.free:
                continue
            if unit.reported != post:
                self.desk.position(unit.id, post)
            unit.patrol = unit.reported = post
            unit.trip = standing(post, self.sched.now)

    def release_leftovers(self, within_s: float) -> None:
        """Units found busy at the start finish their job within ``within_s`` and come back free."""
        for k, info in enumerate(self.leftovers):
            unit = self.units[info.id]
            unit.generation += 1
            gen = unit.generation
            delay = within_s * (k + 1) / (len(self.leftovers) + 1)

            def finish(unit: UnitRecord = unit, info: UnitInfo = info, gen: int = gen) -> None:
                if unit.generation != gen:
                    return
                if info.status != UnitStatus.ON_SCENE.value:
                    self.desk.status(unit.id, UnitStatus.ON_SCENE)
                self.desk.status(unit.id, UnitStatus.AVAILABLE)
                unit.free = True
                self._go_back(unit)
                self._serve_queue()

            self.sched.after(delay, finish)
        self.leftovers = []

    def _next_call(self) -> None:
        call = next(self._calls, None)
        if call is None:
            self._calls_done = True
            self._maybe_finish()
            return
        self.sched.at(call.at, lambda: self._on_call(call))

    def _maybe_finish(self) -> None:
        if self._calls_done and self.open == 0:
            self.sched.stop()

    # --- call-taking and dispatching ------------------------------------------------------------

    def _on_call(self, call: SimCall) -> None:
        try:
            self._take(call)
        finally:
            self._next_call()

    def _take(self, call: SimCall) -> None:
        key = f"{self.key_prefix}-{call.event}-{next(self._seq)}"
        got = self.desk.receive(call, key)
        self.calls += 1
        if call.duplicate:
            self.duplicate_calls += 1
            original = self.by_event.get(call.event)
            if original is not None and original.id in got.duplicates:
                self.desk.link(got.incident_id, original.id)
                original.callers += 1
                self.linked += 1
                return
        plan = self.catalogue.get(call.type_code).plan_for(call.priority)
        inc = IncidentRecord(got.incident_id, call, {c.value: n for c, n in plan.items()})
        self.incidents[inc.id] = inc
        self.by_event.setdefault(call.event, inc)
        self.open += 1
        self.sched.after(call.processing_s, lambda: self._decide(inc))

    def _decide(self, inc: IncidentRecord) -> None:
        inc.decided_at = self.sched.now
        self._dispatch(inc)
        if inc.first_dispatch is None:
            inc.waited = True
        if self._fleet_can(inc.missing(self._caps)):
            self._enqueue(inc)
        elif inc.first_dispatch is None:  # nobody in the fleet can take it: it stays on the board
            self.unanswerable += 1
            self.open -= 1
            self._maybe_finish()

    def _fleet_can(self, missing: Mapping[str, int]) -> bool:
        return any(not u.capabilities.isdisjoint(missing) for u in self.units.values())

    def _caps(self, unit_id: str) -> frozenset[str]:
        u = self.units.get(unit_id)
        return u.capabilities if u else frozenset()

    def _dispatch(self, inc: IncidentRecord) -> bool:
        """Assign the units the recommendation puts forward for the run card, one by one.

        If the service stops recommending a unit part-way (the run card it counts after the
        first assignments differs from the one it ranked), ask again rather than override."""
        sent = False
        picks = self.desk.recommend(inc.id)
        asked = 1
        while picks:
            pick = picks.pop(0)
            unit = self.units.get(pick.unit_id)
            if unit is None or not unit.free:
                continue
            outcome = self.desk.assign(inc.id, unit.id)
            if outcome == "assigned":
                self._respond(unit, inc, pick)
                sent = True
            elif outcome == "not_recommended" and asked < MAX_ASKS:
                self.asked_again += 1
                picks = self.desk.recommend(inc.id)
                asked += 1
        return sent

    def _enqueue(self, inc: IncidentRecord) -> None:
        if inc.id in self.queued:
            return
        self.queued.add(inc.id)
        heapq.heappush(self.queue, (inc.priority, inc.received, next(self._seq), inc.id))
        self.max_queue = max(self.max_queue, len(self.queued))

    def _serve_queue(self) -> None:
        """A unit came free: serve waiting incidents in priority order while a suitable unit is free."""
        if not self.queued:
            return
        waiting = sorted(self.queue)
        self.queue = []
        free = self._free_capabilities()
        for k, entry in enumerate(waiting):
            if not free:  # nobody left to send: the rest keep their places
                self.queue.extend(e for e in waiting[k:] if e[3] in self.queued)
                break
            inc_id = entry[3]
            if inc_id not in self.queued:
                continue
            inc = self.incidents[inc_id]
            missing = inc.missing(self._caps)
            if missing and not free.isdisjoint(missing):
                self._dispatch(inc)
                missing = inc.missing(self._caps)
                free = self._free_capabilities()
            if missing:
                self.queue.append(entry)
            else:
                self.queued.discard(inc_id)
        heapq.heapify(self.queue)

    def _free_capabilities(self) -> set[str]:
        return {c for u in self.units.values() if u.free for c in u.capabilities}

    # --- the units ------------------------------------------------------------------------------

    def _respond(self, unit: UnitRecord, inc: IncidentRecord, pick: Pick) -> None:
        now = self.sched.now
        here, _ = unit.trip.where(now)
        if here != unit.reported:  # dispatched on the way back: its last fix is stale
            self.desk.position(unit.id, here)
            unit.reported = here
            leg = self.desk.travel(here, inc.call.point)
        else:
            end = (inc.call.point.lon, inc.call.point.lat)
            leg = Leg(pick.eta_s, joined(here, pick.route) if pick.route else ((here.lon, here.lat), end))
        unit.way_out = leg if here == unit.patrol else None
        unit.free = False
        unit.incident = inc.id
        unit.generation += 1
        unit.busy_since = now
        unit.assignments += 1
        unit.trip = standing(here, now)
        inc.assigned.append(unit.id)
        inc.active += 1
        if inc.first_dispatch is None:
            inc.first_dispatch = now
        gen = unit.generation
        turnout = self.pace.turnout_s.get(inc.priority, 0.0)
        if turnout + leg.seconds <= 0:
            self._arrive(unit, inc, gen)
            return
        self.sched.after(turnout, lambda: self._set_off(unit, inc, leg, gen))

    def _set_off(self, unit: UnitRecord, inc: IncidentRecord, leg: Leg, gen: int) -> None:
        if unit.generation != gen:
            return
        self.desk.status(unit.id, UnitStatus.EN_ROUTE)
        unit.trip = Trip(leg.path, self.sched.now, leg.seconds)
        self.sched.at(unit.trip.arrive, lambda: self._arrive(unit, inc, gen))
        self._tick_later(unit, gen)

    def _arrive(self, unit: UnitRecord, inc: IncidentRecord, gen: int) -> None:
        if unit.generation != gen:
            return
        now = self.sched.now
        point = inc.call.point
        if unit.reported != point:
            self.desk.position(unit.id, point)
        self.desk.status(unit.id, UnitStatus.ON_SCENE)
        unit.reported = point
        unit.trip = standing(point, now)
        work = inc.call.on_scene_s
        if inc.first_arrival is None:
            inc.first_arrival = now
        else:
            work *= self.pace.backup_on_scene_factor
        self.sched.after(work, lambda: self._clear(unit, inc, gen))

    def _clear(self, unit: UnitRecord, inc: IncidentRecord, gen: int) -> None:
        if unit.generation != gen:
            return
        now = self.sched.now
        self.desk.status(unit.id, UnitStatus.AVAILABLE)
        unit.free = True
        unit.incident = None
        if unit.busy_since is not None:
            unit.busy.append((unit.busy_since, now))
            unit.busy_since = None
        inc.active -= 1
        if inc.active == 0:
            inc.cleared_at = now
            self.queued.discard(inc.id)  # the job is done: no backup is still owed
            if self.pace.close_after_s is not None:
                self.sched.after(self.pace.close_after_s, lambda: self._close(inc))
            else:
                self.open -= 1
        self._go_back(unit)
        self._serve_queue()
        self._maybe_finish()

    def _close(self, inc: IncidentRecord) -> None:
        self.open -= 1
        self.desk.close(inc.id)
        self._maybe_finish()

    def _go_back(self, unit: UnitRecord) -> None:
        now = self.sched.now
        here, _ = unit.trip.where(now)
        if here == unit.patrol:
            return
        out = unit.way_out
        if out is not None and out.path[-1] == (here.lon, here.lat):
            leg = Leg(out.seconds, tuple(reversed(out.path)))  # back the way it came
        else:
            leg = self.desk.travel(here, unit.patrol)
        unit.generation += 1
        gen = unit.generation
        unit.trip = Trip(joined(here, leg.path), now, leg.seconds)
        self.sched.at(unit.trip.arrive, lambda: self._on_patrol(unit, gen))
        self._tick_later(unit, gen)

    def _on_patrol(self, unit: UnitRecord, gen: int) -> None:
        if unit.generation != gen:
            return
        self.desk.position(unit.id, unit.patrol)
        unit.reported = unit.patrol
        unit.trip = standing(unit.patrol, self.sched.now)

    def _tick_later(self, unit: UnitRecord, gen: int) -> None:
        every = self.pace.position_every_s
        if every is None or self.sched.now + every >= unit.trip.arrive:
            return
        self.sched.after(every, lambda: self._tick(unit, gen))

    def _tick(self, unit: UnitRecord, gen: int) -> None:
        if unit.generation != gen or not unit.moving(self.sched.now):
            return
        here, heading = unit.trip.where(self.sched.now)
        self.desk.position(unit.id, here, unit.trip.speed_mps(), heading)
        unit.reported = here
        self._tick_later(unit, gen)
