"""The demo jurisdiction: Andorra, seeded from the OpenStreetMap extract shipped with jingwu.

National police (Policia d'Andorra) → 7 parishes → one station each, 40 units, and one account per
role. Canillo's boundary relation is incomplete in the extract, so its area is the rest of the
served area once the other six parishes are removed (see ``fill_missing_area``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine, select

from jingwu.domain.access import Role
from jingwu.domain.geography import Area, GeoPoint
from jingwu.domain.incident_types import Capability
from jingwu.domain.org import OrgLevel, OrgUnit
from jingwu.domain.unit import Unit, UnitStatus
from jingwu.geo.jurisdictions import fill_missing_area, read_jurisdictions, union_area
from jingwu.services.accounts import add_user
from jingwu.services.dependencies import utc_now
from jingwu.services.organisation import load_org_tree, save_org_units
from jingwu.store import tables as t
from jingwu.store.audit_sealer import AuditSealer
from jingwu.store.repositories import UnitRepository

ROOT = "AD"
# code, OSM name, zh-Hant, zh-Hans, seat (place name), patrol units
PARISHES = [
    ("AD-07", "Andorra la Vella", "安道爾城", "安道尔城", "Andorra la Vella", 5),
    ("AD-08", "Escaldes-Engordany", "萊塞斯卡爾德-恩戈爾達尼", "莱塞斯卡尔德-恩戈尔达尼", "les Escaldes", 4),
    ("AD-03", "Encamp", "恩坎普", "恩坎普", "Encamp", 3),
    ("AD-02", "Canillo", "卡尼略", "卡尼略", "Canillo", 3),
    ("AD-05", "Ordino", "奧爾迪諾", "奥尔迪诺", "Ordino", 2),
    ("AD-04", "La Massana", "拉馬薩納", "拉马萨纳", "La Massana", 3),
    ("AD-06", "Sant Julià de Lòria", "聖胡利婭-德洛里亞", "圣胡利娅-德洛里亚", "Sant Julià de Lòria", 3),
]
DEMO_USERS = [
    ("admin", Role.ADMIN), ("calltaker", Role.CALL_TAKER), ("dispatcher", Role.DISPATCHER),
    ("commander", Role.COMMANDER), ("analyst", Role.ANALYST), ("auditor", Role.AUDITOR),
]
OFFICER_STATION = "AD-07-S1"


def andorra_pbf() -> Path:
    return Path(str(resources.files("jingwu.data").joinpath("andorra.osm.pbf")))


@dataclass(frozen=True)
class DemoSeed:
    org_units: int
    units: int
    users: list[str]


def andorra_org(pbf: Path | None = None) -> list[OrgUnit]:
    found = read_jurisdictions(pbf or andorra_pbf())
    if "Canillo" not in found.areas:
        canillo = fill_missing_area(found, "Canillo")
        if canillo is not None:
            found.areas["Canillo"] = canillo
    places = {name: GeoPoint(lat=lat, lon=lon) for name, _kind, lat, lon in found.places}
    root = OrgUnit(ROOT, "Policia d'Andorra", OrgLevel.PROVINCE, None,
                   Area.from_geojson(union_area(list(found.areas.values()))),
                   {"zh-Hant": "安道爾警察總部", "zh-Hans": "安道尔警察总部", "en": "Andorran National Police"})
    out = [root]
    for code, osm_name, zh_t, zh_s, seat, _n in PARISHES:
        geometry = found.areas.get(osm_name)
        if geometry is None:
            raise ValueError(f"the extract has no boundary for {osm_name}")
        area = Area.from_geojson(geometry)
        base = places.get(seat) or area.centroid()
        if osm_name == "Andorra la Vella" and found.police:
            _n2, lat, lon = found.police[0]
            base = GeoPoint(lat=lat, lon=lon)
        names = {"zh-Hant": zh_t, "zh-Hans": zh_s, "en": osm_name}
        out.append(OrgUnit(code, osm_name, OrgLevel.DISTRICT, ROOT, area, names, base))
        st_names = {"zh-Hant": f"{zh_t}派出所", "zh-Hans": f"{zh_s}派出所", "en": f"{osm_name} station"}
        out.append(OrgUnit(f"{code}-S1", f"{osm_name} station", OrgLevel.STATION, code, area, st_names, base))
    return out


def andorra_units(org: list[OrgUnit], seed: int = 7) -> list[Unit]:
    """40 units: patrol cars by parish size, a traffic and a community unit per parish, and the
    criminal investigation and special units at headquarters (Andorra la Vella)."""
    rng = random.Random(seed)
    bases = {u.code: u.base for u in org if u.level is OrgLevel.STATION}
    now = utc_now()
    units = []
    for code, _osm_name, *_rest, patrols in PARISHES:
        station = f"{code}-S1"
        base = bases[station] or GeoPoint(lat=42.5, lon=1.52)
        tag = code.split("-")[1]
        kinds = [("P", {Capability.PATROL}, 2)] * patrols + [("T", {Capability.TRAFFIC, Capability.PATROL}, 2)]
        kinds += [("C", {Capability.COMMUNITY}, 1)]
        if station == OFFICER_STATION:
            kinds += [("X", {Capability.CRIMINAL_INVESTIGATION}, 2)] * 3 + [("S", {Capability.SPECIAL}, 4)] * 2
        counters: dict[str, int] = {}
        for prefix, caps, crew in kinds:
            counters[prefix] = counters.get(prefix, 0) + 1
            call_sign = f"{prefix}{tag}-{counters[prefix]:02d}"
            jitter = GeoPoint(lat=base.lat + rng.uniform(-0.006, 0.006), lon=base.lon + rng.uniform(-0.008, 0.008))
            units.append(Unit(id=f"U-{call_sign}", call_sign=call_sign, home_station=station,
                              capabilities=frozenset(caps), crew_size=crew, status=UnitStatus.AVAILABLE,
                              position=jitter, position_at=now, status_at=now))
    return units


def seed_andorra(engine: Engine, password: str, pbf: Path | None = None) -> DemoSeed:
    """Seed an empty database with the Andorra jurisdiction, its units and the demo accounts."""
    org = andorra_org(pbf)
    units = andorra_units(org)
    now = utc_now()
    with engine.begin() as conn:
        save_org_units(conn, org)
        tree = load_org_tree(conn)
        repo = UnitRepository(conn, lock=False)
        for u in units:
            repo.add(u)
        names = []
        for username, role in DEMO_USERS:
            add_user(conn, tree, username, password, role, ROOT, now)
            names.append(username)
        officer_unit = next(u for u in units if u.home_station == OFFICER_STATION)
        add_user(conn, tree, "officer", password, Role.OFFICER, OFFICER_STATION, now, unit_id=officer_unit.id)
        names.append("officer")
    AuditSealer(engine).seal_all()  # PostgreSQL: the accounts' audit entries linked before anyone serves
    return DemoSeed(org_units=len(org), units=len(units), users=names)


def staffed_units(engine: Engine) -> frozenset[str]:
    """Units that have an officer account: people drive them from the terminal, so the live drill
    leaves them alone."""
    with engine.connect() as conn:
        rows = conn.execute(select(t.users.c.unit_id).where(t.users.c.role == Role.OFFICER.value,
                                                              t.users.c.unit_id.is_not(None)))
        return frozenset(r.unit_id for r in rows)
