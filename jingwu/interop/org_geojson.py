"""An organisation tree as GeoJSON: one Feature per org unit, its jurisdiction as the geometry.

This is how an agency brings its own tree (省廳 → 市局 → 分局 → 派出所) into jingwu, and how the tree
goes out again: any GIS reads and edits it. A feature's ``properties``:

- ``code`` (required): the unit's code, unique, e.g. ``440304`` or ``AD-07-S1``;
- ``name`` (required): its name; ``names``: ``{"zh-Hant": …, "zh-Hans": …, "en": …}`` (optional);
- ``level`` (required): ``province``, ``city``, ``district`` or ``station``;
- ``parent``: the parent's code (in the file or already in the database); null for the root;
- ``base``: ``[lon, lat]`` of the station house (optional; units start there).

The geometry is a Polygon or MultiPolygon in WGS 84 (lon, lat), required for stations (a call's
place resolves to the station whose area holds it) and optional above them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shapely.geometry import shape
from shapely.validation import explain_validity

from jingwu.domain.geography import Area, GeoPoint
from jingwu.domain.org import OrgLevel, OrgUnit

LANGUAGES = ("zh-Hant", "zh-Hans", "en")
MAX_CODE = 32
"""As the API's ``station`` filter and the tables' code columns allow."""
MAX_NAME = 200


class OrgFileError(ValueError):
    """What is wrong with the file, and where: ``feature 3 (AD-07-S1): geometry: …``."""


def org_units_from_geojson(data: Any) -> list[OrgUnit]:
    """The file's units, parents before children (within the file), each checked on its own;
    the tree as a whole (parents, duplicates, cycles) is the caller's to check against the
    database's units."""
    if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
        raise OrgFileError("the file must be a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise OrgFileError("features: the collection has no features")
    units = [_unit(i, f) for i, f in enumerate(features, start=1)]
    return parents_first(units)


def _unit(index: int, feature: Any) -> OrgUnit:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise OrgFileError(f"feature {index}: not a GeoJSON Feature")
    props = feature.get("properties")
    if not isinstance(props, Mapping):
        raise OrgFileError(f"feature {index}: properties: missing")
    code = props.get("code")
    if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE or code != code.strip():
        raise OrgFileError(f"feature {index}: code: a non-empty text of at most {MAX_CODE} characters, "
                           "without spaces at either end")
    where = f"feature {index} ({code})"
    name = props.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
        raise OrgFileError(f"{where}: name: required, at most {MAX_NAME} characters")
    try:
        level = OrgLevel(str(props.get("level")))
    except ValueError:
        raise OrgFileError(f"{where}: level: one of {', '.join(v.value for v in OrgLevel)}") from None
    parent = props.get("parent")
    if parent is not None and (not isinstance(parent, str) or not parent):
        raise OrgFileError(f"{where}: parent: a code, or null for the root")
    names = props.get("names") or {}
    if not isinstance(names, Mapping) or any(k not in LANGUAGES or not isinstance(v, str) for k, v in names.items()):
        raise OrgFileError(f"{where}: names: an object of texts by language ({', '.join(LANGUAGES)})")
    return OrgUnit(code=code, name=name.strip(), level=level, parent_code=parent,
                   area=_area(where, level, feature.get("geometry")), names=dict(names),
                   base=_base(where, props.get("base")))


def _area(where: str, level: OrgLevel, geometry: Any) -> Area | None:
    if geometry is None:
        if level is OrgLevel.STATION:
            raise OrgFileError(f"{where}: geometry: a station needs its jurisdiction (Polygon or MultiPolygon)")
        return None
    if not isinstance(geometry, Mapping) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise OrgFileError(f"{where}: geometry: a Polygon or MultiPolygon")
    try:
        polygon = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise OrgFileError(f"{where}: geometry: {exc}") from None
    minx, miny, maxx, maxy = polygon.bounds if not polygon.is_empty else (0, 0, 0, 0)
    if polygon.is_empty or not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise OrgFileError(f"{where}: geometry: empty, or not in longitude, latitude (WGS 84)")
    if not polygon.is_valid:
        raise OrgFileError(f"{where}: geometry: not a valid polygon ({explain_validity(polygon)})")
    return Area.from_geojson(dict(geometry))


def _base(where: str, value: Any) -> GeoPoint | None:
    if value is None:
        return None
    refused = OrgFileError(f"{where}: base: [longitude, latitude] of the station house")
    if not isinstance(value, list | tuple) or len(value) != 2 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise refused
    try:
        return GeoPoint(lat=float(value[1]), lon=float(value[0]))  # refuses NaN and out-of-range degrees
    except ValueError:
        raise refused from None


def parents_first(units: Iterable[OrgUnit]) -> list[OrgUnit]:
    """The units with each after its parent where both are given (the store inserts in this order);
    units whose parent is elsewhere keep their place at the front."""
    pending = list(units)
    codes = {u.code for u in pending}
    placed: set[str] = set()
    out: list[OrgUnit] = []
    while pending:
        ready = [u for u in pending if u.parent_code is None or u.parent_code not in codes or u.parent_code in placed]
        if not ready:  # a cycle: leave the rest in file order, for the tree's own check to name it
            out.extend(pending)
            break
        out.extend(ready)
        placed.update(u.code for u in ready)
        pending = [u for u in pending if u.code not in placed]
    return out


def org_units_to_geojson(units: Iterable[OrgUnit]) -> dict[str, Any]:
    """The tree as a FeatureCollection that ``org_units_from_geojson`` reads back unchanged."""
    features = []
    for u in parents_first(units):
        props: dict[str, Any] = {"code": u.code, "name": u.name, "level": u.level.value, "parent": u.parent_code}
        if u.names:
            props["names"] = dict(u.names)
        if u.base is not None:
            props["base"] = [u.base.lon, u.base.lat]
        features.append({"type": "Feature", "properties": props,
                         "geometry": u.area.to_geojson() if u.area is not None else None})
    return {"type": "FeatureCollection", "features": features}
