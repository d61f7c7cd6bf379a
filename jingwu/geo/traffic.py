"""Time-of-day traffic factors per road class, applied to edge times without rebuilding the graph.

A primary road at 08:00 on a weekday is slower than at 03:00; a residential street barely changes.
The table multiplies each edge's free-flow time by a factor for its road class and the local hour
(junction penalties are not scaled). It is configurable as JSON::

    {"timezone": "Europe/Andorra",
     "weekday": {"primary": {"7-9": 1.5, "17-19": 1.5, "22-6": 0.9}},
     "weekend": {"primary": {"11-13": 1.2}}}

where "7-9" means hours 7 and 8 (end exclusive) and "22-6" wraps past midnight.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jingwu.geo.roads import ROAD_CLASSES

Ranges = Mapping[str, Mapping[str, float]]
"""road class -> {"h1-h2": factor}"""

DEFAULT_WEEKDAY: Ranges = {
    "motorway": {"7-9": 1.3, "17-19": 1.3},
    "trunk": {"7-9": 1.4, "17-19": 1.4, "22-6": 0.9},
    "primary": {"7-9": 1.5, "17-19": 1.5, "12-14": 1.2, "22-6": 0.9},
    "secondary": {"7-9": 1.4, "17-19": 1.4, "12-14": 1.15, "22-6": 0.9},
    "tertiary": {"7-9": 1.3, "17-19": 1.3, "22-6": 0.9},
    "unclassified": {"7-9": 1.15, "17-19": 1.15},
    "residential": {"7-9": 1.1, "17-19": 1.1},
}
DEFAULT_WEEKEND: Ranges = {
    "primary": {"11-14": 1.25, "17-20": 1.2},
    "secondary": {"11-14": 1.15, "17-20": 1.1},
}


def _hours(spec: str) -> list[int]:
    start, _, end = spec.partition("-")
    a, b = int(start), int(end or int(start) + 1)
    if not (0 <= a <= 23 and 0 <= b <= 24):
        raise ValueError(f"hour range out of 0..24: {spec!r}")
    return list(range(a, b)) if a < b else list(range(a, 24)) + list(range(0, b))


def _grid(ranges: Ranges) -> tuple[tuple[float, ...], ...]:
    grid = [[1.0] * len(ROAD_CLASSES) for _ in range(24)]
    for road_class, spans in ranges.items():
        if road_class not in ROAD_CLASSES:
            raise ValueError(f"unknown road class {road_class!r}; known: {', '.join(ROAD_CLASSES)}")
        col = ROAD_CLASSES.index(road_class)
        for spec, factor in spans.items():
            if factor <= 0:
                raise ValueError(f"traffic factor must be positive, got {factor}")
            for hour in _hours(spec):
                grid[hour][col] = float(factor)
    return tuple(tuple(row) for row in grid)


@dataclass(frozen=True, slots=True)
class TrafficTable:
    """Factors per (weekday/weekend, local hour, road class); 1.0 is free flow."""

    weekday: tuple[tuple[float, ...], ...]
    weekend: tuple[tuple[float, ...], ...]
    timezone: str | None = None

    @classmethod
    def from_ranges(cls, weekday: Ranges, weekend: Ranges | None = None, timezone: str | None = None) -> TrafficTable:
        return cls(_grid(weekday), _grid(weekend if weekend is not None else weekday), timezone)

    @classmethod
    def default(cls, timezone: str | None = None) -> TrafficTable:
        return cls.from_ranges(DEFAULT_WEEKDAY, DEFAULT_WEEKEND, timezone)

    @classmethod
    def free_flow(cls) -> TrafficTable:
        return cls.from_ranges({}, {})

    @classmethod
    def from_json(cls, path: Path) -> TrafficTable:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_ranges(data.get("weekday", {}), data.get("weekend"), data.get("timezone"))

    def factors_at(self, at: datetime) -> tuple[float, ...]:
        """Factors for each of ``ROAD_CLASSES`` at ``at`` (aware times are converted to local time)."""
        local = at.astimezone(ZoneInfo(self.timezone)) if self.timezone and at.tzinfo else at
        grid = self.weekend if local.weekday() >= 5 else self.weekday
        return grid[local.hour]
