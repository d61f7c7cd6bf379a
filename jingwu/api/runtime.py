"""Everything a running jingwu holds: engine, org tree, catalogue, travel engine, bus, relay and sealer.

Built once at start-up (never at import time) by ``build_runtime``; tests build their own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from jingwu.bus.memory import InProcessBus
from jingwu.bus.nats import NatsBus
from jingwu.config import Settings
from jingwu.domain.places import AddressResolver
from jingwu.domain.travel import TravelTimeEstimator
from jingwu.geo.road_services import RoadServices, load_road_services
from jingwu.geo.straight_line import StraightLineTravelTimes
from jingwu.geo.traffic import TrafficTable
from jingwu.services.catalogue import load_catalogue
from jingwu.services.dependencies import Dependencies, DispatchRules
from jingwu.services.organisation import load_org_tree
from jingwu.store.audit_sealer import AuditSealer
from jingwu.store.engine import build_engine, is_sqlite
from jingwu.store.migrate import upgrade
from jingwu.store.outbox import OutboxRelay
from jingwu.store.unit_of_work import read_connection

log = logging.getLogger(__name__)
EventBus = InProcessBus | NatsBus


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    deps: Dependencies
    bus: EventBus
    relay: OutboxRelay
    sealer: AuditSealer | None = None
    """PostgreSQL: seals the audit entries after their commit (``jingwu.store.audit_sealer``)."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Optional parts added by other capabilities (road network, analysis layers)."""

    def reload_org(self) -> None:
        with read_connection(self.engine) as conn:
            self.deps.org = load_org_tree(conn)

    def close(self) -> None:
        self.relay.stop()
        if self.sealer is not None:
            self.sealer.stop()
        if isinstance(self.bus, NatsBus):
            self.bus.close()
        self.engine.dispose()


def build_runtime(settings: Settings, *, engine: Engine | None = None, migrate: bool = True,
                  travel: TravelTimeEstimator | None = None, places: AddressResolver | None = None,
                  roads: RoadServices | None = None) -> Runtime:
    """Wire a running jingwu. The road network (``settings.road_network``, the shipped Andorra by
    default) gives road ETAs and geocoding unless ``settings.roads_enabled`` is off."""
    engine = engine or build_engine(settings.database_url)
    if roads is None and settings.roads_enabled and travel is None:
        roads = load_road_services(
            settings.road_network, settings.data_dir / "roads", timezone=settings.timezone,
            traffic=TrafficTable.from_json(settings.traffic_table) if settings.traffic_table else None,
            snap_max_distance_m=settings.snap_max_distance_m, off_road_speed_kmh=settings.off_road_speed_kmh,
            straight_line_speed_kmh=settings.straight_line_speed_kmh,
        )
        log.info("road network ready in %.2f s", roads.ready_s)
    if roads is not None:
        travel = travel or roads.travel
        places = places or roads.geocoder
    if migrate:
        upgrade(engine)
    with read_connection(engine) as conn:
        org = load_org_tree(conn)
    bus: EventBus
    linger_s = settings.outbox_linger_ms / 1000
    if settings.bus_url.startswith("nats://"):
        nats_bus = NatsBus(settings.bus_url, subject=settings.bus_subject)
        bus = nats_bus
        relay = OutboxRelay(engine, bus.publish, publish_batch=nats_bus.publish_batch, leader_lock=True,
                            tell_leader=nats_bus.tell_relay, linger_s=linger_s)
        nats_bus.on_relay_told(relay.wake)
    else:
        bus = InProcessBus()
        relay = OutboxRelay(engine, bus.publish, linger_s=linger_s)
    rules = DispatchRules(
        duplicate_radius_m=settings.duplicate_radius_m, duplicate_window_s=settings.duplicate_window_s,
        duplicate_offer_limit=settings.duplicate_offer_limit,
        recommendation_limit=settings.recommendation_limit,
        recommendation_max_eta_s=settings.recommendation_max_eta_s,
        checkin_interval_s=settings.checkin_interval_s,
    )
    sealer = None if is_sqlite(engine) else AuditSealer(engine)
    deps = Dependencies(
        engine=engine, catalogue=load_catalogue(), org=org,
        travel=travel or StraightLineTravelTimes(settings.straight_line_speed_kmh),
        places=places, rules=rules, on_commit=relay.notify, on_audit=sealer.notify if sealer else None,
    )
    runtime = Runtime(settings=settings, engine=engine, deps=deps, bus=bus, relay=relay, sealer=sealer)
    if roads is not None:
        runtime.extras["roads"] = roads.network
        runtime.extras["road_services"] = roads
    return runtime
