"""Administrative areas, settlements and police stations read from an OpenStreetMap extract, to
seed an organisation tree (e.g. Andorra: national police → parishes → stations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import osmium
import shapely
from shapely.geometry import MultiPoint, mapping, shape
from shapely.ops import unary_union


@dataclass
class OsmJurisdictions:
    areas: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Admin area name → GeoJSON geometry."""
    places: list[tuple[str, str, float, float]] = field(default_factory=list)
    """(name, kind, lat, lon) of towns and villages."""
    police: list[tuple[str, float, float]] = field(default_factory=list)
    """(name, lat, lon) of mapped police stations."""
    road_points: list[tuple[float, float]] = field(default_factory=list)
    """(lon, lat) of a sample of road nodes, to outline the served area."""


class _Reader(osmium.SimpleHandler):
    def __init__(self, admin_level: str) -> None:
        super().__init__()
        self.admin_level = admin_level
        self.out = OsmJurisdictions()
        self._wkb = osmium.geom.WKBFactory()
        self._n = 0

    def node(self, n: Any) -> None:
        place = n.tags.get("place")
        if place in ("city", "town", "village") and n.tags.get("name"):
            self.out.places.append((n.tags["name"], place, n.location.lat, n.location.lon))
        if n.tags.get("amenity") == "police":
            self.out.police.append((n.tags.get("name", "police"), n.location.lat, n.location.lon))

    def way(self, w: Any) -> None:
        if w.tags.get("highway") in ("primary", "secondary", "tertiary", "trunk", "residential", "unclassified"):
            self._n += 1
            if self._n % 3 == 0:
                for nd in w.nodes:
                    if nd.location.valid():
                        self.out.road_points.append((nd.location.lon, nd.location.lat))

    def area(self, a: Any) -> None:
        if a.tags.get("boundary") == "administrative" and a.tags.get("admin_level") == self.admin_level:
            try:
                geom = shapely.from_wkb(bytes.fromhex(self._wkb.create_multipolygon(a)))
            except RuntimeError:
                return
            self.out.areas[a.tags.get("name", str(a.orig_id()))] = mapping(geom)


def read_jurisdictions(path: Path, admin_level: str = "7") -> OsmJurisdictions:
    reader = _Reader(admin_level)
    reader.apply_file(str(path), locations=True)
    return reader.out


def fill_missing_area(found: OsmJurisdictions, name: str, buffer_deg: float = 0.01) -> dict[str, Any] | None:
    """An area whose boundary the extract lacks, as the rest of the served area (the road network's
    hull) once the known areas are removed; the largest remaining piece."""
    if not found.road_points:
        return None
    served = MultiPoint(found.road_points).convex_hull.buffer(buffer_deg)
    known = unary_union([shape(g) for g in found.areas.values()]) if found.areas else None
    rest = served.difference(known) if known is not None else served
    pieces = list(getattr(rest, "geoms", [rest]))
    if not pieces:
        return None
    largest = max(pieces, key=lambda g: g.area)
    return mapping(shapely.set_precision(largest, 1e-6))


def union_area(geometries: list[dict[str, Any]]) -> dict[str, Any]:
    return mapping(unary_union([shape(g) for g in geometries]))
