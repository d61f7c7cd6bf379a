"""What the use cases need besides a unit of work, built once at start-up by the entry point."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from jingwu.domain.incident_types import IncidentTypeCatalogue
from jingwu.domain.org import OrgTree
from jingwu.domain.places import AddressResolver
from jingwu.domain.travel import TravelTimeEstimator
from jingwu.store.unit_of_work import UnitOfWork

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class DispatchRules:
    duplicate_radius_m: float = 300.0
    duplicate_window_s: float = 1800.0
    duplicate_offer_limit: int = 10
    """Possible duplicates offered with a new call at most, the nearest (a call-taker reads a short list)."""
    recommendation_limit: int = 10
    recommendation_max_eta_s: float = 3600.0
    checkin_interval_s: int = 900


@dataclass
class Dependencies:
    engine: Engine
    catalogue: IncidentTypeCatalogue
    org: OrgTree
    travel: TravelTimeEstimator
    places: AddressResolver | None = None
    rules: DispatchRules | None = None
    clock: Clock = utc_now
    on_commit: Callable[[], None] | None = None
    on_audit: Callable[[], None] | None = None

    def uow(self, *, single_write: bool = False) -> UnitOfWork:
        """``single_write``: every write of the use case is a held row (``UnitOfWork``)."""
        return UnitOfWork(self.engine, on_commit=self.on_commit, on_audit=self.on_audit, single_write=single_write)

    @property
    def dispatch_rules(self) -> DispatchRules:
        return self.rules or DispatchRules()
