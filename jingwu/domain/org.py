"""The organisation tree (省廳 → 市局 → 分局 → 派出所, or Andorra's national police → parish →
station) and the jurisdictions it implies. Scoping of every read hangs off ``subtree``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from jingwu.domain.errors import DomainError
from jingwu.domain.geography import Area, GeoPoint

_UNRESOLVED = object()
"""Marks a point not resolved yet (None is a valid answer: outside every station)."""


class OrgLevel(StrEnum):
    PROVINCE = "province"  # 省廳 / national police
    CITY = "city"  # 市局
    DISTRICT = "district"  # 分局 / parish
    STATION = "station"  # 派出所


@dataclass(frozen=True, slots=True)
class OrgUnit:
    code: str
    name: str
    level: OrgLevel
    parent_code: str | None = None
    area: Area | None = None
    names: dict[str, str] = field(default_factory=dict, compare=False)
    """Names by language (zh-Hant, zh-Hans, en); ``name`` is the default."""
    base: GeoPoint | None = None
    """Where the station house is, for stations."""


class OrgTree:
    """An immutable view of the organisation, built once from its units."""

    def __init__(self, units: Iterable[OrgUnit]) -> None:
        self.units: dict[str, OrgUnit] = {}
        self.children: dict[str, list[str]] = {}
        for u in units:
            if u.code in self.units:
                raise ValueError(f"duplicate org code {u.code!r}")
            self.units[u.code] = u
        for u in self.units.values():
            if u.parent_code is not None:
                if u.parent_code not in self.units:
                    raise ValueError(f"org {u.code!r} has unknown parent {u.parent_code!r}")
                self.children.setdefault(u.parent_code, []).append(u.code)
        self._subtrees: dict[str, frozenset[str]] = {}
        self._stations = [u for u in self.units.values() if u.level is OrgLevel.STATION and u.area]
        self._station_polygons = [(u.code, poly, poly.bbox()) for u in self._stations if u.area
                                  for poly in u.area.polygons]
        self._resolved: dict[tuple[float, float], str | None] = {}
        self._check_acyclic()

    def _check_acyclic(self) -> None:
        for code in self.units:
            seen = set()
            cur: str | None = code
            while cur is not None:
                if cur in seen:
                    raise ValueError(f"org tree has a cycle through {code!r}")
                seen.add(cur)
                cur = self.units[cur].parent_code

    def __contains__(self, code: object) -> bool:
        return code in self.units

    def get(self, code: str) -> OrgUnit:
        return self.units[code]

    def subtree(self, code: str) -> frozenset[str]:
        """The codes of ``code`` and every unit below it."""
        cached = self._subtrees.get(code)
        if cached is not None:
            return cached
        out = {code}
        stack = [code]
        while stack:
            for child in self.children.get(stack.pop(), []):
                out.add(child)
                stack.append(child)
        result = frozenset(out)
        self._subtrees[code] = result
        return result

    def under(self, code: str | None, field: str = "station") -> frozenset[str] | None:
        """What a filter by org unit asks for: the unit and every unit below it, so a district
        branch's code selects its stations' records (``None``, no limit, at a root or with no code).
        An unknown code is refused, naming the field: a typo must not read as "nothing happened here"."""
        if not code:
            return None
        unit = self.units.get(code)
        if unit is None:
            raise DomainError(f"unknown org unit {code!r}", field=field)
        return None if unit.parent_code is None else self.subtree(code)

    def ancestors(self, code: str) -> list[str]:
        """From ``code`` up to the root, inclusive."""
        out = []
        cur: str | None = code
        while cur is not None:
            out.append(cur)
            cur = self.units[cur].parent_code
        return out

    def stations(self) -> list[OrgUnit]:
        return [u for u in self.units.values() if u.level is OrgLevel.STATION]

    def resolve_station(self, point: GeoPoint) -> str | None:
        """The one station whose jurisdiction holds ``point`` (first by code if areas overlap).

        Each polygon of an area (an exclave too) is tried inside its own bounding box. The answer
        is remembered per exact point (a few thousand): a call's place is resolved when it is
        generated or validated and again when the incident is opened."""
        key = (point.lat, point.lon)
        known = self._resolved.get(key, _UNRESOLVED)
        if known is not _UNRESOLVED:
            return known  # type: ignore[return-value]
        hits = [code for code, poly, (x0, y0, x1, y1) in self._station_polygons
                if x0 <= point.lon <= x1 and y0 <= point.lat <= y1 and poly.contains(point)]
        found = min(hits) if hits else None
        if len(self._resolved) >= 4096:
            self._resolved.clear()
        self._resolved[key] = found
        return found
