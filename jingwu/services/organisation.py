"""The organisation tree as stored: loading it at start-up and adding units to it."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from jingwu.domain.geography import Area, GeoPoint
from jingwu.domain.org import OrgLevel, OrgTree, OrgUnit
from jingwu.store import tables as t


def load_org_tree(conn: Connection) -> OrgTree:
    units = []
    for r in conn.execute(select(t.org_units)):
        units.append(OrgUnit(
            code=r.code, name=r.name, level=OrgLevel(r.level), parent_code=r.parent_code,
            area=Area.from_geojson(r.area) if r.area else None, names=dict(r.names or {}),
            base=GeoPoint(lat=r.base_lat, lon=r.base_lon) if r.base_lat is not None else None,
        ))
    return OrgTree(units)


def save_org_units(conn: Connection, units: list[OrgUnit]) -> None:
    """Insert units parents-first (the caller gives them in tree order)."""
    OrgTree(units)  # refuse an inconsistent tree before writing any of it
    conn.execute(insert(t.org_units), [
        {"code": u.code, "name": u.name, "names": u.names, "level": u.level.value, "parent_code": u.parent_code,
         "area": u.area.to_geojson() if u.area else None,
         "base_lat": u.base.lat if u.base else None, "base_lon": u.base.lon if u.base else None}
        for u in units
    ])
