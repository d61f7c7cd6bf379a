"""All settings in one place, read from the environment (prefix ``JINGWU_``) with safe defaults.

Nothing else in jingwu reads the environment; nothing here does I/O at import time.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JINGWU_", env_file=None, extra="ignore")

    database_url: str = Field(
        default="sqlite:///.jingwu/jingwu.db",
        description="SQLAlchemy URL; sqlite (default) or postgresql+psycopg://",
    )
    data_dir: Path = Field(default=Path(".jingwu"), description="caches and generated files")
    secret_key: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    token_ttl_s: int = 8 * 3600
    demo_password: str | None = None
    drill_password: str | None = None
    """Password of the account ``jingwu drill --against`` logs in with (or use --password-stdin)."""
    host: str = "127.0.0.1"
    port: int = 8000
    timezone: str = "Europe/Andorra"
    # Dispatch
    straight_line_speed_kmh: float = 40.0
    recommendation_limit: int = 10
    recommendation_max_eta_s: float = 3600.0
    duplicate_radius_m: float = 300.0
    duplicate_window_s: int = 1800
    duplicate_offer_limit: int = Field(default=10, ge=1, le=100)
    """Possible duplicates offered with a new call at most: the nearest, as a call-taker's short list."""
    checkin_interval_s: int = 900
    # Requests
    max_body_bytes: int = 64 * 1024
    api_operation_threads: int | None = Field(default=None, ge=0, le=64)
    """Threads that run the command centre's short requests (intake, recommendations, assignment,
    status and position): few threads contend less for the GIL (docs/architecture.md, "Lanes");
    0 runs them on the event loop itself, one at a time. None: ``operation_threads()`` picks by
    where the database is."""
    # Road network: an OSM extract (.osm.pbf/.osm/.osm.gz) or OSMnx GraphML; None = shipped Andorra.
    road_network: Path | None = None
    roads_enabled: bool = True
    """Off: recommendations fall back to straight-line ETAs, flagged as such; no geocoding."""
    snap_max_distance_m: float = 300.0
    off_road_speed_kmh: float = 10.0
    """Speed assumed between a point and the road it snaps to (driveways, squares, footpaths)."""
    traffic_table: Path | None = None
    """JSON table of time-of-day travel-time factors per road class (docs/geo.md); None = built-in."""
    # Abuse resistance (token buckets per process; see docs/security.md)
    rate_limits: bool = True
    login_rate_per_minute: float = 10.0
    login_burst: int = 5
    public_rate_per_minute: float = 120.0
    public_burst: int = 60
    # Retention of personal data, in days after the incident closed (see docs/security.md)
    retention_caller_days: int = Field(default=180, ge=1)
    retention_interval_s: int = Field(default=24 * 3600, ge=60, description="how often `serve` runs the purge")
    surge_check_interval_s: int = 3600
    """How often the server looks for surges (daily counts per station area × family)."""
    gc_clock_s: float = Field(default=0.25, ge=0.0, le=60.0)
    """How often the server collects the garbage collector's young generation, whatever the count
    (``jingwu.api.collector``); 0: by count only, as CPython does."""
    # Message bus: "memory" (in-process) or a nats:// URL
    bus_url: str = "memory"
    bus_subject: str = Field(default="jingwu", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
    """The NATS subjects' prefix: every node of a deployment shares it, and deployments (or test
    runs) sharing one NATS server each need their own, or each hears the other's events."""
    outbox_linger_ms: float = Field(default=25.0, ge=0, le=1000)
    """Under load the outbox relay starts a batch at most once per this many ms, so one claim
    carries several commits' events: each batch costs a claim, a NATS message and its ack, and every
    node's decoding, whatever its size (10 → 25 ms: ~7 % less CPU a flow at ~250 intakes/s,
    docs/benchmarks.md). An event waits at most this much longer, and not at all after a quiet
    spell; 0 = one batch per wake."""
    tile_url: str | None = None
    tile_attribution: str = ""
    """Attribution shown with the tiles of ``tile_url`` (a deployment's own tile server)."""

    def operation_threads(self) -> int:
        """``api_operation_threads``, or by default where the database is. PostgreSQL on this
        machine (a socket or a loopback address): 0, the requests run on the event loop, since its
        round trips take tens of microseconds and handing each request to a thread and back cost
        more (docs/benchmarks.md, "The operations lane on the event loop"). SQLite: 1, since a
        write may wait for the writer's turn that the outbox relay holds. Across a network: 2, so
        one request's round trips overlap another's Python."""
        if self.api_operation_threads is not None:
            return self.api_operation_threads
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite":
            return 1
        return 0 if (url.host or "localhost") in LOOPBACK_HOSTS else 2


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
