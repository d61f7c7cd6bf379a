"""The drill against a running server, in (scaled) real time: the live demo and the load generator.

``jingwu demo`` runs one desk at 30× real time against its own server so the command map moves
from the first minute; ``jingwu drill --against URL --rate 50/s`` runs several desks at the speed
that makes the calls arrive at the asked rate, each like a dispatcher at the same command centre
(they share the units: a unit one desk assigns is busy for the others, and each desk glances at
its queue every simulated minute). The run is bounded by ``duration_s`` of wall-clock time plus a
drain, and stops early on ``stop`` or when too many requests fail.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from jingwu.domain.incident_types import IncidentTypeCatalogue
from jingwu.domain.org import OrgTree
from jingwu.geo.roads import load_road_network, shipped_andorra
from jingwu.sim.calls import CallGenerator, SimCall
from jingwu.sim.desk import UnitInfo
from jingwu.sim.drill import Drill
from jingwu.sim.engine import Scheduler
from jingwu.sim.http_desk import HttpDesk, HttpError, RequestLog
from jingwu.sim.mix import IncidentMix, load_mix
from jingwu.sim.profile import WeeklyProfile, load_call_profile
from jingwu.sim.records import Outcome, Pace, units_board
from jingwu.sim.report import drill_report
from jingwu.sim.spatial import CallSurfaces, build_surfaces, patrol_posts

log = logging.getLogger(__name__)


@dataclass
class LiveSpec:
    url: str
    username: str
    password: str
    speed: float
    """Simulated seconds per wall-clock second."""
    calls_per_day: float = 1200.0
    seed: int = 1
    duration_s: float | None = None
    """Wall-clock seconds of calls; None = until stopped."""
    drain_s: float = 30.0
    """Wall-clock seconds to let units finish after the last call."""
    desks: int = 1
    position_every_s: float | None = 2.0
    """Wall-clock seconds between position reports of a moving unit (None: only at stops)."""
    road_legs: bool = True
    steady: bool = False
    """Calls at a constant rate (a load test) instead of following the weekly profile from now."""
    osm_file: Path | None = None
    data_dir: Path = Path(".jingwu")
    timezone: str = "Europe/Andorra"
    max_failure_share: float = 0.5
    reserved_units: frozenset[str] = frozenset()
    """Units a person drives from the officer terminal: the drill never assigns or moves them."""
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class LiveResult:
    report: dict[str, Any]
    http: dict[str, Any]
    errors: list[str]


def rate_to_speed(rate_per_s: float, calls_per_day: float) -> float:
    """The time scale at which ``calls_per_day`` arrive at ``rate_per_s`` calls a wall-clock second."""
    if rate_per_s <= 0 or calls_per_day <= 0:
        raise ValueError("rate and calls per day must be positive")
    return rate_per_s * 86_400 / calls_per_day


def parse_rate(text: str) -> float:
    """``50/s``, ``3000/min``, ``20/h`` or a bare number of calls per second."""
    value, _, unit = text.strip().partition("/")
    per = {"": 1.0, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "hour": 3600.0}.get(unit.strip())
    if per is None:
        raise ValueError(f"rate {text!r}: use calls per s, min or h, e.g. 50/s")
    return float(value) / per


@dataclass
class _Setup:
    catalogue: IncidentTypeCatalogue
    org: OrgTree
    roster: list[UnitInfo]
    surfaces: CallSurfaces
    mix: IncidentMix


def _read_server(spec: LiveSpec, lead: HttpDesk) -> _Setup:
    """What the drill needs from the server (catalogue, areas, units) and the local OSM extract."""
    catalogue, org, roster = lead.catalogue(), lead.org(), lead.units()
    osm = spec.osm_file or shipped_andorra()
    surfaces = build_surfaces(load_road_network(osm, spec.data_dir / "roads"), osm, org,
                              cache_dir=spec.data_dir / "drill")
    return _Setup(catalogue, org, roster, surfaces, load_mix(catalogue))


def run_live(spec: LiveSpec) -> LiveResult:
    """Drive the server at ``spec.url`` until the duration and drain pass or ``spec.stop`` is set."""
    requests = RequestLog()
    client = httpx.Client(base_url=spec.url.rstrip("/"), timeout=15.0,
                          limits=httpx.Limits(max_connections=spec.desks * 2 + 2))
    desks = [HttpDesk(spec.url, client=client, log=requests, road_legs=spec.road_legs) for _ in range(spec.desks)]
    try:
        for d in desks:
            d.login(spec.username, spec.password)
        setup = _read_server(spec, desks[0])
        start = datetime.now(UTC).replace(microsecond=0)
        horizon_s = (spec.duration_s if spec.duration_s is not None else 10 * 365 * 86_400) * spec.speed
        pace = Pace(turnout_s=setup.mix.turnout_s, backup_on_scene_factor=setup.mix.backup_on_scene_factor,
                    close_after_s=setup.mix.close_after_s, drain_s=spec.drain_s * spec.speed,
                    position_every_s=spec.position_every_s * spec.speed if spec.position_every_s else None,
                    queue_poll_s=60.0 if spec.desks > 1 else None)
        board = units_board(r for r in setup.roster if r.id not in spec.reserved_units)
        errors: list[str] = []
        drills: list[Drill] = []
        unreachable = [0]

        def failed(exc: BaseException) -> None:
            if len(errors) < 100:
                errors.append(str(exc))
            gone = isinstance(exc, HttpError) and exc.status == 0
            unreachable[0] = unreachable[0] + 1 if gone else 0
            if unreachable[0] >= 3:  # the server has gone away (the demo is shutting down)
                spec.stop.set()
                for d in drills:
                    d.sched.stop()
                return
            log.warning("drill request failed: %s", exc)
            if requests.requests > 50 and requests.failures > spec.max_failure_share * requests.requests:
                spec.stop.set()

        for k, desk in enumerate(desks):
            drill = Drill(desk, Scheduler(start, speed=spec.speed, on_error=failed), setup.catalogue, pace,
                          setup.roster, horizon_s=horizon_s, key_prefix=f"drill-{start:%Y%m%d%H%M%S}-{spec.seed}-{k}",
                          board=board)
            drills.append(drill)
        drills[0].release_leftovers(within_s=600.0)
        drills[0].take_posts(patrol_posts(setup.surfaces, [(u.id, u.home_station) for u in setup.roster], spec.seed))
        profile = WeeklyProfile.flat() if spec.steady else load_call_profile()
        end = start + timedelta(seconds=horizon_s)
        calls = [CallGenerator(profile, setup.mix, setup.surfaces, calls_per_day=spec.calls_per_day / spec.desks,
                               seed=spec.seed * 1000 + k, timezone=spec.timezone,
                               in_area=lambda p: setup.org.resolve_station(p) is not None).calls(start, end)
                 for k in range(spec.desks)]
        _run_desks(spec, drills, calls)
        out = Outcome.merged([d.outcome() for d in drills])
        out.horizon_s = min(out.horizon_s, out.now)
        scenario = {"against": spec.url, "start": start.isoformat(), "hours": round(out.horizon_s / 3600, 3),
                    "calls_per_day": spec.calls_per_day, "speed": round(spec.speed, 2), "desks": spec.desks,
                    "seed": spec.seed, "travel": "server", "units_on_duty": len(board),
                    "jurisdiction": spec.url, "lag_s": round(max(d.sched.lag_s for d in drills), 2)}
        return LiveResult(drill_report(out, setup.catalogue, scenario), requests.summary(), errors[:20])
    finally:
        client.close()


def _run_desks(spec: LiveSpec, drills: list[Drill], calls: list[Iterator[SimCall]]) -> None:
    """One thread per desk; stop them all at the deadline (duration + drain) or on ``spec.stop``."""
    threads = [threading.Thread(target=d.run, args=(c,), name=f"drill-desk-{k}", daemon=True)
               for k, (d, c) in enumerate(zip(drills, calls, strict=True))]
    for th in threads:
        th.start()
    deadline = None if spec.duration_s is None else time.monotonic() + spec.duration_s + spec.drain_s
    while any(th.is_alive() for th in threads):
        if spec.stop.is_set() or (deadline is not None and time.monotonic() > deadline):
            for d in drills:
                d.sched.stop()
        for th in threads:
            th.join(timeout=0.2)


DEMO_CALLS_PER_DAY = 1200.0


def start_demo_drill(url: str, username: str, password: str, *, speed: float, data_dir: Path, timezone: str,
                     calls_per_day: float = DEMO_CALLS_PER_DAY, ready_timeout_s: float = 120.0,
                     seed: int | None = None, reserved_units: frozenset[str] = frozenset()) -> threading.Event:
    """Run the live drill against the demo's own server in a background thread, from the moment
    it answers ``/healthz`` until the process ends (or the returned event is set)."""
    stop = threading.Event()

    def wait_then_run() -> None:
        deadline = time.monotonic() + ready_timeout_s
        while not stop.is_set():
            try:
                if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                log.warning("live drill: %s did not come up; no drill", url)
                return
            time.sleep(0.25)
        spec = LiveSpec(url=url, username=username, password=password, speed=speed, calls_per_day=calls_per_day,
                        seed=seed if seed is not None else int(time.time()) % 100_000, duration_s=None,
                        data_dir=data_dir, timezone=timezone, stop=stop, reserved_units=reserved_units)
        try:
            run_live(spec)
        except Exception:  # the demo keeps serving even if its drill cannot run
            log.exception("live drill stopped")

    threading.Thread(target=wait_then_run, name="demo-drill", daemon=True).start()
    return stop
