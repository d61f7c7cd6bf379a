"""The organisation tree as stored: loading it at start-up and adding units to it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select

from jingwu.domain.errors import Conflict, DomainError
from jingwu.domain.geography import Area, GeoPoint
from jingwu.domain.org import OrgLevel, OrgTree, OrgUnit
from jingwu.store import audit_chain
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
    _insert(conn, units)


def _insert(conn: Connection, units: list[OrgUnit]) -> None:
    conn.execute(insert(t.org_units), [
        {"code": u.code, "name": u.name, "names": u.names, "level": u.level.value, "parent_code": u.parent_code,
         "area": u.area.to_geojson() if u.area else None,
         "base_lat": u.base.lat if u.base else None, "base_lon": u.base.lon if u.base else None}
        for u in units
    ])


def import_org_units(conn: Connection, units: list[OrgUnit], now: datetime, by: str) -> OrgTree:
    """Add an agency's units (parents first) to the stored tree, in the caller's transaction,
    and audit it; the whole of it is checked first, so a refused import writes nothing.

    One root only: a user at a root sees every station, so a second root would let one
    agency's province-level users read another's. Stations are the leaves calls resolve to."""
    audit_chain.hold_writer(conn)
    stored = load_org_tree(conn)
    for u in units:
        if u.code in stored:
            raise Conflict(f"org unit {u.code!r} is already in the database", field="code")
    try:
        tree = OrgTree([*stored.units.values(), *units])
    except ValueError as exc:
        raise DomainError(str(exc), field="parent") from None
    roots = sorted(code for code, u in tree.units.items() if u.parent_code is None)
    if len(roots) != 1:
        raise DomainError(f"the tree must have exactly one root (a unit without parent); it would have "
                          f"{len(roots)}: {', '.join(roots[:5])}", field="parent")
    for u in units:
        if u.parent_code is not None and tree.get(u.parent_code).level is OrgLevel.STATION:
            raise DomainError(f"org unit {u.code!r}: its parent {u.parent_code!r} is a station; stations have "
                              "no units below them", field="parent")
        if u.level is OrgLevel.STATION and u.area is None:
            raise DomainError(f"station {u.code!r} has no jurisdiction area", field="geometry")
    _insert(conn, units)
    audit_chain.append(conn, [{"at": now, "actor": by, "action": "org.import", "object_type": "org_unit",
                               "object_id": units[0].code if len(units) == 1 else f"{len(units)} units",
                               "detail": {"codes": [u.code for u in units][:1000], "count": len(units)}}])
    return tree
