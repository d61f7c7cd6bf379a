"""Read OpenStreetMap extracts into plain road ways and named places.

Two sources are supported: OSM files (``.osm.pbf``, ``.osm``, ``.osm.gz``) through pyosmium, the
maintained libosmium binding, and OSMnx GraphML (the format most city road graphs are shared in).
Both become the same ``OsmRoads`` value, so the graph builder does not care where roads came from.
Only what driving needs is kept: roads a car may use, their one-way rule, speed limit and name.
"""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DRIVING_HIGHWAYS = frozenset(
    {
        "motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential",
        "living_street", "service", "road", "motorway_link", "trunk_link", "primary_link",
        "secondary_link", "tertiary_link",
    }
)  # fmt: skip
"""``highway=*`` values a patrol car drives on; tracks, paths and footways are left out."""

EXCLUDED_SERVICE = frozenset({"parking_aisle", "driveway", "drive-through", "emergency_access"})
NO_ACCESS = frozenset({"no", "private"})
POI_KEYS = ("amenity", "tourism", "shop", "leisure", "office", "building", "historic", "public_transport")


@dataclass(frozen=True, slots=True)
class RoadWay:
    """One OSM way (or one OSMnx edge) a car may use."""

    nodes: tuple[int, ...]
    highway: str
    maxspeed_kmh: float | None
    oneway: int  # 0: both ways, 1: in node order, -1: against node order
    name: str | None


@dataclass(frozen=True, slots=True)
class NamedPlace:
    """A named place (town, hamlet) or point of interest the geocoder can find."""

    name: str
    kind: str  # "place" or "poi"
    category: str  # e.g. "town", "police", "hospital"
    lat: float
    lon: float


@dataclass(slots=True)
class OsmRoads:
    """Everything read from one file: road node coordinates (lat, lon), ways and places."""

    coords: dict[int, tuple[float, float]] = field(default_factory=dict)
    ways: list[RoadWay] = field(default_factory=list)
    places: list[NamedPlace] = field(default_factory=list)


def parse_maxspeed(value: str | None) -> float | None:
    """km/h from a ``maxspeed`` tag ("50", "30 mph", "50;70"); None for zone codes like "FR:urban"."""
    if not value:
        return None
    speeds = []
    for part in re.split(r"[;|,]", value):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*", part)
        if m:
            v = float(m.group(1))
            speeds.append(v * 1.609344 if m.group(2) == "mph" else v)
    return min(speeds) if speeds else None


def oneway_rule(tags: Mapping[str, str]) -> int:
    """OSM one-way semantics, including the implied one-way of roundabouts and motorways."""
    value = (tags.get("oneway") or "").strip().lower()
    if value in ("yes", "true", "1"):
        return 1
    if value in ("-1", "reverse"):
        return -1
    if value in ("no", "false", "0", "reversible", "alternating"):
        return 0
    if tags.get("junction") in ("roundabout", "circular") or tags.get("highway") == "motorway":
        return 1
    return 0


def is_driving_way(tags: Mapping[str, str]) -> bool:
    highway = tags.get("highway")
    if highway not in DRIVING_HIGHWAYS or tags.get("area") == "yes":
        return False
    if highway == "service" and tags.get("service") in EXCLUDED_SERVICE:
        return False
    if tags.get("emergency") in ("yes", "designated"):  # closed to the public, open to police cars
        return True
    for key in ("motor_vehicle", "motorcar", "vehicle", "access"):
        if key in tags:
            return tags[key] not in NO_ACCESS
    return True


def read_osm(path: Path) -> OsmRoads:
    """Read driving ways and named places from an OSM file via pyosmium (format from the suffix)."""
    import osmium  # imported here: the CLI's --help must not pay for it

    out = OsmRoads()
    for obj in osmium.FileProcessor(str(path)).with_locations():
        if isinstance(obj, osmium.osm.Node):
            if "name" in obj.tags and obj.location.valid():
                place = _named_place(dict(obj.tags), obj.location.lat, obj.location.lon)
                if place:
                    out.places.append(place)
        elif isinstance(obj, osmium.osm.Way):
            tags = dict(obj.tags)
            locs = [(n.ref, n.location) for n in obj.nodes if n.location.valid()]
            if len(locs) < 2:
                continue
            if is_driving_way(tags):
                for ref, loc in locs:
                    out.coords[ref] = (loc.lat, loc.lon)
                out.ways.append(
                    RoadWay(
                        nodes=tuple(ref for ref, _ in locs),
                        highway=tags["highway"],
                        maxspeed_kmh=parse_maxspeed(tags.get("maxspeed")),
                        oneway=oneway_rule(tags),
                        name=tags.get("name"),
                    )
                )
            elif "name" in tags and "highway" not in tags:
                lat = sum(loc.lat for _, loc in locs) / len(locs)
                lon = sum(loc.lon for _, loc in locs) / len(locs)
                place = _named_place(tags, lat, lon)
                if place:
                    out.places.append(place)
    return out


def _named_place(tags: Mapping[str, str], lat: float, lon: float) -> NamedPlace | None:
    name = tags.get("name")
    if not name:
        return None
    if "place" in tags:
        return NamedPlace(name, "place", tags["place"], lat, lon)
    for key in POI_KEYS:
        if key in tags:
            category = tags[key] if tags[key] != "yes" else key
            return NamedPlace(name, "poi", category, lat, lon)
    return None


# --- OSMnx GraphML -----------------------------------------------------------------------------

_GRAPHML = "{http://graphml.graphdrawing.org/xmlns}"


def _first(value: str | None) -> str | None:
    """OSMnx writes merged attributes as a Python list literal ("['a', 'b']"); take the first."""
    if value is None:
        return None
    value = value.strip()
    if value.startswith("["):
        try:
            items = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        return str(items[0]) if items else None
    return value


def _all(value: str | None) -> list[str]:
    if value is None:
        return []
    value = value.strip()
    if value.startswith("["):
        try:
            return [str(v) for v in ast.literal_eval(value)]
        except (ValueError, SyntaxError):
            return [value]
    return [value]


def read_graphml(path: Path) -> OsmRoads:
    """Read an OSMnx GraphML road graph (EPSG:4326).

    OSMnx edges are already directed (a two-way street is two edges), so each becomes a one-way
    ``RoadWay``; the shape points of its ``geometry`` become nodes with synthetic negative ids,
    shared by both directions so a two-way street stays one street.
    """
    root = ET.parse(path).getroot()
    keys = {k.get("id"): k.get("attr.name") for k in root.iter(f"{_GRAPHML}key")}
    graph = root.find(f"{_GRAPHML}graph")
    if graph is None:
        raise ValueError(f"{path}: no <graph> element")
    out = OsmRoads()
    shape_ids: dict[tuple[float, float], int] = {}
    for node in graph.iter(f"{_GRAPHML}node"):
        data = _data(node, keys)
        out.coords[int(node.get("id", "0"))] = (float(data["y"]), float(data["x"]))
    by_coord = {(round(lat, 7), round(lon, 7)): nid for nid, (lat, lon) in out.coords.items()}
    for edge in graph.iter(f"{_GRAPHML}edge"):
        data = _data(edge, keys)
        highway = next((h for h in _all(data.get("highway")) if h in DRIVING_HIGHWAYS), None)
        tags = {k: v for k, v in ((k, _first(v)) for k, v in data.items()) if v is not None}
        if highway is None or not is_driving_way({**tags, "highway": highway}):
            continue
        u, v = int(edge.get("source", "0")), int(edge.get("target", "0"))
        chain = [u]
        for lat, lon in _linestring(data.get("geometry"))[1:-1]:
            key = (round(lat, 7), round(lon, 7))
            nid = by_coord.get(key) or shape_ids.get(key)
            if nid is None:
                nid = -(len(shape_ids) + 1)
                shape_ids[key] = nid
                out.coords[nid] = (lat, lon)
            chain.append(nid)
        chain.append(v)
        speeds = [s for s in (parse_maxspeed(m) for m in _all(data.get("maxspeed"))) if s]
        names = _all(data.get("name"))
        out.ways.append(RoadWay(tuple(chain), highway, min(speeds) if speeds else None, 1, names[0] if names else None))
    return out


def _data(elem: ET.Element, keys: Mapping[str | None, str | None]) -> dict[str, str]:
    return {str(keys.get(d.get("key"))): d.text or "" for d in elem.findall(f"{_GRAPHML}data")}


def _linestring(wkt: str | None) -> list[tuple[float, float]]:
    """(lat, lon) points of a WKT LINESTRING (lon lat order in the text)."""
    if not wkt:
        return []
    inner = wkt[wkt.find("(") + 1 : wkt.rfind(")")]
    pts = []
    for pair in inner.split(","):
        x, y = pair.split()[:2]
        pts.append((float(y), float(x)))
    return pts


def read_roads(path: Path) -> OsmRoads:
    """Dispatch on the file name: GraphML via xml.etree, anything else via pyosmium."""
    if path.suffix.lower() == ".graphml":
        return read_graphml(path)
    return read_osm(path)
