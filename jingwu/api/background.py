"""The loops a running server keeps going beside the requests: stage timers, the personal-data
purge, surge alerts, and near-repeat checks on each new incident.

With several nodes, only the node that relays the outbox (the leader) runs them, so alerts are
raised once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from jingwu.api.runtime import Runtime
from jingwu.bus.memory import Message
from jingwu.services.early_warning import raise_near_repeat_alert, raise_surge_alerts, series_already_alerted
from jingwu.services.retention import RetentionPolicy, run_retention
from jingwu.services.timers import check_timers

log = logging.getLogger(__name__)
TIMER_PERIOD_S = 5.0


async def _every(runtime: Runtime, period_s: float, job: Callable[[], object], name: str,
                 first_delay_s: float | None = None) -> None:
    await asyncio.sleep(period_s if first_delay_s is None else first_delay_s)
    while True:
        if runtime.relay.is_leader():
            try:
                await asyncio.to_thread(job)
            except Exception:
                log.exception("%s failed", name)
        await asyncio.sleep(period_s)


async def _near_repeats(runtime: Runtime) -> None:
    """Checks each new incident against recent ones of its family nearby (a near-repeat series).

    A new incident of a series already alerted is skipped twice over: when it is heard, and again
    when its turn comes. Calls in a new series arrive faster than the checks run (each reads the
    database in a thread), so the queue fills with incidents of series that are alerted by the
    time their turn comes. In 15 s of the intake benchmark (~12,000 calls at seven places), 4,766
    incidents were checked and 4,188 of them found their series known only after a thread hop and
    a read; skipped at their turn, 584 were checked (docs/benchmarks.md)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Message]] = asyncio.Queue(maxsize=10_000)

    def on_event(message: Message) -> None:
        incident_id = message.get("incident_id")
        if not runtime.relay.holds_lead():  # another node checks it; every node hears every event
            return
        if incident_id and not _known_series(runtime, message):
            loop.call_soon_threadsafe(_offer, queue, (str(incident_id), message))

    unsubscribe = runtime.bus.subscribe(on_event, lambda m: m.get("kind") == "IncidentReceived")
    try:
        while True:
            incident_id, message = await queue.get()
            if not runtime.relay.is_leader() or _known_series(runtime, message):
                continue
            try:
                await asyncio.to_thread(raise_near_repeat_alert, runtime.deps, incident_id)
            except Exception:
                log.exception("near-repeat check failed for %s", incident_id)
    finally:
        unsubscribe()


def _known_series(runtime: Runtime, message: Message) -> bool:
    """A new incident of a near-repeat series already alerted here needs no check (no reads)."""
    try:
        at = datetime.fromisoformat(str(message["at"]))
        lat, lon = float(message["lat"]), float(message["lon"])
    except (KeyError, TypeError, ValueError):
        return False
    return series_already_alerted(runtime.deps, str(message.get("type_code")), lat, lon, at)


def _offer(queue: asyncio.Queue[tuple[str, Message]], item: tuple[str, Message]) -> None:
    if not queue.full():  # under a flood, skip checks rather than hold memory without bound
        queue.put_nowait(item)


def background_jobs(runtime: Runtime) -> list[Callable[[], Coroutine[Any, Any, None]]]:
    settings = runtime.settings
    policy = RetentionPolicy(caller_days=settings.retention_caller_days)
    return [
        lambda: _every(runtime, TIMER_PERIOD_S, lambda: check_timers(runtime.deps), "timer check"),
        lambda: _every(runtime, settings.retention_interval_s, lambda: run_retention(runtime.deps, policy),
                       "retention run", first_delay_s=0),
        lambda: _every(runtime, settings.surge_check_interval_s, lambda: raise_surge_alerts(runtime.deps),
                       "surge check", first_delay_s=30),
        lambda: _near_repeats(runtime),
    ]
