"""The drill's own world: a throwaway database seeded with the demo jurisdiction (Andorra), the
fleet sized as asked, and the real services wired to the simulated clock.

The database is SQLite in memory behind a single shared connection (measured faster than a
temporary file: no WAL, no fsync). Seeding Andorra costs about a second, mostly hashing the demo
accounts' passwords, so a seeded template is kept in ``data_dir`` (keyed on the schema migrations,
the seed code, the jingwu version and the OSM file) and copied into memory for each drill.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import sqlite3
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event, update
from sqlalchemy.pool import StaticPool

from jingwu import __version__
from jingwu.config import Settings
from jingwu.domain.access import Actor, Role
from jingwu.domain.geography import GeoPoint
from jingwu.domain.incident_types import Capability
from jingwu.domain.org import OrgTree
from jingwu.domain.travel import TravelTimeEstimator
from jingwu.domain.unit import UnitStatus
from jingwu.geo.road_services import RoadServices, load_road_services
from jingwu.geo.roads import RoadNetwork, file_sha256, load_road_network, shipped_andorra
from jingwu.geo.straight_line import StraightLineTravelTimes
from jingwu.geo.traffic import TrafficTable
from jingwu.services import demo
from jingwu.services.catalogue import load_catalogue
from jingwu.services.dependencies import Dependencies, DispatchRules
from jingwu.services.organisation import load_org_tree
from jingwu.services.units import add_unit
from jingwu.sim.desk import ServiceDesk, UnitInfo
from jingwu.sim.engine import Scheduler
from jingwu.store import migrate
from jingwu.store import tables as t
from jingwu.store.engine import build_engine, close_kept, sqlite_begin

Travel = Literal["road", "straight"]
DRILL_ADMIN = Actor(username="drill.admin", role=Role.ADMIN, org_code="", scope=None)


def memory_engine(conn: sqlite3.Connection) -> Engine:
    """An engine over one in-memory SQLite connection, with the transaction handling of
    ``jingwu.store.engine.build_engine`` (writers take ``BEGIN IMMEDIATE``)."""
    engine = create_engine("sqlite://", creator=lambda: conn, poolclass=StaticPool)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    event.listen(engine, "begin", sqlite_begin)

    return engine


def _template_key(osm: Path) -> str:
    h = hashlib.sha256(__version__.encode())
    for path in [*sorted((migrate.MIGRATIONS / "versions").glob("*.py")), Path(demo.__file__)]:
        h.update(path.read_bytes())
    h.update(file_sha256(osm).encode())
    return h.hexdigest()[:16]


def seeded_template(data_dir: Path) -> Path:
    """A seeded Andorra database file (built once per schema/seed version)."""
    path = data_dir / "drill" / f"andorra-{_template_key(shipped_andorra())}.db"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
    engine = build_engine(f"sqlite:///{partial}")
    try:
        migrate.upgrade(engine)
        demo.seed_andorra(engine, secrets.token_urlsafe(12) + "A1")  # nobody logs in to a drill
    finally:
        engine.dispose()
    single = sqlite3.connect(partial)
    try:
        single.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        single.close()
    partial.replace(path)
    return path


def restore_in_memory(template: Path) -> sqlite3.Connection:
    src = sqlite3.connect(template)
    dst = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        src.backup(dst)
    finally:
        src.close()
    return dst


@dataclass
class World:
    engine: Engine
    deps: Dependencies
    desk: ServiceDesk
    sched: Scheduler
    roster: list[UnitInfo]
    network: RoadNetwork
    osm_file: Path
    travel: Travel
    setup_s: dict[str, float] = field(default_factory=dict)

    @property
    def org(self) -> OrgTree:
        return self.deps.org

    def close(self) -> None:
        close_kept(self.engine)
        self.engine.dispose()


def _road(settings: Settings, travel: Travel) -> tuple[RoadNetwork, TravelTimeEstimator, Any, Path]:
    osm = Path(settings.road_network) if settings.road_network else shipped_andorra()
    if travel == "road":
        # As ``jingwu.api.runtime.build_runtime`` wires them, so ETAs are the ones the API gives.
        roads: RoadServices = load_road_services(
            settings.road_network, settings.data_dir / "roads", timezone=settings.timezone,
            traffic=TrafficTable.from_json(settings.traffic_table) if settings.traffic_table else None,
            snap_max_distance_m=settings.snap_max_distance_m, off_road_speed_kmh=settings.off_road_speed_kmh,
            straight_line_speed_kmh=settings.straight_line_speed_kmh)
        return roads.network, roads.travel, roads.geocoder, osm
    network = load_road_network(osm, settings.data_dir / "roads")
    return network, StraightLineTravelTimes(settings.straight_line_speed_kmh), None, osm


def build_world(settings: Settings, *, start: datetime, units: int | None = None, travel: Travel = "road",
                seed: int = 1) -> World:
    """A fresh drill database at simulated time ``start`` with ``units`` units on duty."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    network, estimator, places, osm = _road(settings, travel)
    timings["road network"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = memory_engine(restore_in_memory(seeded_template(settings.data_dir)))
    with engine.begin() as conn:
        # The seed stamps units with the real clock; the drill's clock starts at ``start``.
        conn.execute(update(t.units).values(position_at=start, status_at=start))
        org = load_org_tree(conn)
    timings["database"] = time.perf_counter() - t0
    sched = Scheduler(start)
    rules = DispatchRules(
        duplicate_radius_m=settings.duplicate_radius_m, duplicate_window_s=settings.duplicate_window_s,
        recommendation_limit=settings.recommendation_limit,
        recommendation_max_eta_s=settings.recommendation_max_eta_s, checkin_interval_s=settings.checkin_interval_s)
    deps = Dependencies(engine=engine, catalogue=load_catalogue(), org=org, travel=estimator, places=places,
                        rules=rules, clock=sched.clock)
    desk = ServiceDesk(deps)
    t0 = time.perf_counter()
    if units is not None:
        size_fleet(deps, desk, units, seed)
    timings["fleet"] = time.perf_counter() - t0
    world = World(engine, deps, desk, sched, desk.units(), network, osm, travel, timings)
    # The store keeps a connection checked out for the drill's thread (``checked_out``), which holds
    # the engine and its in-memory database until it is closed: a world dropped unclosed closes it.
    weakref.finalize(world, close_kept, engine)
    desk.timer.reset()
    return world


def _call_sign_prefix(call_sign: str) -> str:
    return call_sign.rsplit("-", 1)[0]


def size_fleet(deps: Dependencies, desk: ServiceDesk, wanted: int, seed: int) -> None:
    """Grow the demo fleet by repeating its composition, or stand down patrol cars first."""
    if wanted < 1:
        raise ValueError("a drill needs at least one unit")
    roster = [u for u in desk.units() if u.status != UnitStatus.OFF_DUTY.value]
    if wanted > len(roster):
        _add_units(deps, roster, wanted - len(roster), seed)
    elif wanted < len(roster):
        for unit_id in _stand_down_order(roster)[: len(roster) - wanted]:
            desk.status(unit_id, UnitStatus.OFF_DUTY)


def _add_units(deps: Dependencies, roster: list[UnitInfo], extra: int, seed: int) -> None:
    rng = random.Random(seed)
    numbers = Counter(_call_sign_prefix(u.call_sign) for u in roster)
    for k in range(extra):
        model = roster[k % len(roster)]
        prefix = _call_sign_prefix(model.call_sign)
        numbers[prefix] += 1
        call_sign = f"{prefix}-{numbers[prefix]:02d}"
        base = deps.org.get(model.home_station).base or model.position or GeoPoint(lat=42.5, lon=1.52)
        spot = GeoPoint(lat=base.lat + rng.uniform(-0.006, 0.006), lon=base.lon + rng.uniform(-0.008, 0.008))
        add_unit(deps, DRILL_ADMIN, f"U-{call_sign}", call_sign, model.home_station,
                 {Capability(c) for c in model.capabilities}, position=spot, status=UnitStatus.AVAILABLE)


def _stand_down_order(roster: list[UnitInfo]) -> list[str]:
    """Patrol-only cars from the best-staffed station first, so every station and skill stays covered
    as long as possible."""
    left = {u.id: u for u in roster}
    order: list[str] = []
    while len(left) > 1:
        by_station = Counter(u.home_station for u in left.values())
        plain = [u for u in left.values() if u.capabilities == {Capability.PATROL.value}]
        pool = plain or list(left.values())
        pick = max(pool, key=lambda u: (by_station[u.home_station], u.call_sign))
        order.append(pick.id)
        del left[pick.id]
    return order
