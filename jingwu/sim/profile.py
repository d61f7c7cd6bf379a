"""When calls come: a weekday × hour intensity fitted on real records, and arrivals drawn from it.

The shape (not the volume) comes from ten years of Chicago aggravated-assault reports (2010-2019,
148,636 records, local time): public-initiated, time-stamped to the minute, so their weekly rhythm
is a fair stand-in for a 110 centre's (quiet early mornings, busy evenings, heavier weekend nights).
The fitted table ships as ``jingwu/data/call_profile.json``; ``fit_weekly_profile`` rebuilds it.

Arrivals are a non-homogeneous Poisson process with a piecewise-constant rate per local hour. Each
hour is drawn from its own random stream, keyed on the seed and the hour's absolute index, so any
window is a consistent slice of one infinite realisation: a 24 h drill and a week-long one agree on
the calls they share, and a live demo can generate hour by hour for as long as it runs.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WeeklyProfile:
    """Relative call intensity per (local weekday, local hour); the 168 cells average 1."""

    relative: tuple[tuple[float, ...], ...]
    """``relative[weekday][hour]``, Monday = 0."""
    meta: dict[str, Any]

    def __post_init__(self) -> None:
        if len(self.relative) != 7 or any(len(row) != 24 for row in self.relative):
            raise ValueError("a weekly profile is 7 rows of 24 hours")
        if any(v < 0 for row in self.relative for v in row):
            raise ValueError("intensities must not be negative")

    def at(self, local: datetime) -> float:
        return self.relative[local.weekday()][local.hour]

    def weekday_means(self) -> list[float]:
        return [float(np.mean(row)) for row in self.relative]

    def hour_means(self) -> list[float]:
        return [float(np.mean([row[h] for row in self.relative])) for h in range(24)]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.meta,
            "weekdays": list(WEEKDAYS),
            "relative_intensity": [[round(v, 4) for v in row] for row in self.relative],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WeeklyProfile:
        table = tuple(tuple(float(v) for v in row) for row in data["relative_intensity"])
        meta = {k: v for k, v in data.items() if k not in ("relative_intensity", "weekdays")}
        return cls(_normalised(table), meta)

    @classmethod
    def flat(cls) -> WeeklyProfile:
        """Constant intensity (used where the theory assumes a homogeneous Poisson process)."""
        return cls(tuple(tuple(1.0 for _ in range(24)) for _ in range(7)), {"source": "flat"})


def _normalised(table: tuple[tuple[float, ...], ...]) -> tuple[tuple[float, ...], ...]:
    mean = float(np.mean(table))
    if mean <= 0:
        raise ValueError("a profile needs some positive intensity")
    return tuple(tuple(v / mean for v in row) for row in table)


def load_call_profile(path: Path | None = None) -> WeeklyProfile:
    """The profile shipped with jingwu (or an agency's own, fitted on its call records)."""
    if path is None:
        text = resources.files("jingwu.data").joinpath("call_profile.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return WeeklyProfile.from_json(json.loads(text))


def fit_weekly_profile(records: Path, *, date_column: str = "date", source: str = "") -> WeeklyProfile:
    """Mean records per (weekday, hour) slot over the period covered, relative to the weekly mean.

    Counts are divided by how many times each slot occurs between the first and last record, so a
    period that holds one more Friday than Monday does not bias Fridays. Times are local wall-clock
    times as recorded. Records at exactly 00:00 or 12:00 are partly placeholders for an unknown
    time in police data; they are kept (they are 0.3 % and 0.8 % here) and noted in the metadata.
    """
    opener = gzip.open if str(records).endswith(".gz") else open
    counts = np.zeros((7, 24))
    first: datetime | None = None
    last: datetime | None = None
    total = midnight = noon = 0
    with opener(records, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            raw = (row.get(date_column) or "").strip()
            if not raw:
                continue
            at = datetime.fromisoformat(raw)
            counts[at.weekday(), at.hour] += 1
            total += 1
            midnight += at.hour == 0 and at.minute == 0
            noon += at.hour == 12 and at.minute == 0
            first = at if first is None or at < first else first
            last = at if last is None or at > last else last
    if first is None or last is None:
        raise ValueError(f"{records} holds no dated records")
    slots = np.zeros((7, 24))
    day = first.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= last:
        slots[day.weekday(), :] += 1
        day += timedelta(days=1)
    per_hour = counts / slots
    table = tuple(tuple(float(v) for v in row) for row in per_hour)
    meta = {
        "_about": "Relative call intensity by local weekday (rows, Monday first) and hour (columns); "
                  "the 168 cells average 1. Fitted by jingwu.sim.profile.fit_weekly_profile.",
        "source": source or str(records),
        "records": total,
        "period": [first.isoformat(timespec="minutes"), last.isoformat(timespec="minutes")],
        "mean_records_per_hour": round(float(per_hour.mean()), 3),
        "placeholder_share": {"00:00": round(midnight / total, 4), "12:00": round(noon / total, 4)},
    }
    return WeeklyProfile(_normalised(table), meta)


@dataclass(frozen=True)
class HourSlot:
    """One hour of the arrival process: its absolute index (UTC hours since 1970) and its rate."""

    index: int
    start: datetime
    rate_per_hour: float


class ArrivalProcess:
    """Poisson arrivals whose hourly rate follows a weekly profile in a given time zone."""

    def __init__(self, profile: WeeklyProfile, events_per_day: float, timezone: str = "UTC") -> None:
        if events_per_day < 0:
            raise ValueError("events_per_day must not be negative")
        self.profile = profile
        self.mean_per_hour = events_per_day / 24
        self.tz = ZoneInfo(timezone)

    def slots(self, start: datetime, end: datetime) -> Iterator[HourSlot]:
        """Every UTC hour overlapping [start, end), rated by the local weekday and hour at its middle."""
        index = int((start - EPOCH).total_seconds() // 3600)
        while True:
            slot_start = EPOCH + timedelta(hours=index)
            if slot_start >= end:
                return
            local = (slot_start + timedelta(minutes=30)).astimezone(self.tz)
            yield HourSlot(index, slot_start, self.mean_per_hour * self.profile.at(local))
            index += 1

    def expected(self, start: datetime, end: datetime) -> float:
        total = 0.0
        for slot in self.slots(start, end):
            lo = max(start, slot.start)
            hi = min(end, slot.start + timedelta(hours=1))
            total += slot.rate_per_hour * (hi - lo).total_seconds() / 3600
        return total

    @staticmethod
    def rng(seed: int, slot: HourSlot) -> np.random.Generator:
        """The random stream of one hour (arrivals and everything drawn about them)."""
        return np.random.default_rng([seed, slot.index])

    @staticmethod
    def arrivals(rng: np.random.Generator, slot: HourSlot) -> np.ndarray:
        """Sorted arrival offsets (seconds into the hour) for the whole hour."""
        n = int(rng.poisson(slot.rate_per_hour))
        return np.sort(rng.uniform(0.0, 3600.0, n))
