"""An agency's units (patrol cars, foot patrols, traffic and investigation teams) as CSV, one row
per unit: what a roster spreadsheet exports, and what ``jingwu export units`` writes back.

Columns (a header row first; order free; extra columns refused, so a misspelt one is not lost):

- ``call_sign`` (required): unique, e.g. ``P07-01`` or ``福田巡1``;
- ``home_station`` (required): the station's org code;
- ``capabilities`` (required): one or more of patrol, traffic, community,
  criminal_investigation, special, separated by ``;``;
- ``crew_size``: 1-12 (default 2);
- ``id``: the unit's id (default ``U-`` + call sign);
- ``status``: ``off_duty`` (default), ``available`` or ``out_of_service``;
- ``lat``, ``lon``: where it is now (both or neither; default the station house).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from jingwu.domain.geography import GeoPoint
from jingwu.domain.incident_types import Capability
from jingwu.domain.unit import Unit, UnitStatus

COLUMNS = ("call_sign", "home_station", "capabilities", "crew_size", "id", "status", "lat", "lon")
REQUIRED = ("call_sign", "home_station", "capabilities")
IMPORT_STATUSES = (UnitStatus.OFF_DUTY, UnitStatus.AVAILABLE, UnitStatus.OUT_OF_SERVICE)
"""A unit comes in idle: the busy states belong to incidents, which an import has none of."""
MAX_ID = 40
MAX_CREW = 12


class UnitsFileError(ValueError):
    """What is wrong with the file, and where: ``line 4 (P07-02): crew_size: …``."""


@dataclass(frozen=True, slots=True)
class UnitRecord:
    """One row, checked on its own; its station and uniqueness are the service's to check."""

    id: str
    call_sign: str
    home_station: str
    capabilities: frozenset[Capability]
    crew_size: int
    status: UnitStatus
    position: GeoPoint | None
    line: int


def unit_records_from_csv(text: str) -> list[UnitRecord]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # a spreadsheet's byte-order mark
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise UnitsFileError("the file is empty: a header row is needed (" + ",".join(COLUMNS) + ")")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise UnitsFileError(f"line 1: unknown column {unknown[0]!r}; columns are {', '.join(COLUMNS)}")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise UnitsFileError(f"line 1: column {missing[0]!r} is required")
    reader.fieldnames = header
    out = []
    for row in reader:
        if None in row:
            raise UnitsFileError(f"line {reader.line_num}: more values than columns")
        values = {k: (v or "").strip() for k, v in row.items()}
        if any(values.values()):
            out.append(_record(reader.line_num, values))
    if not out:
        raise UnitsFileError("the file has no units")
    return out


def _record(line: int, v: dict[str, str]) -> UnitRecord:
    call_sign = v["call_sign"]
    where = f"line {line} ({call_sign})" if call_sign else f"line {line}"
    if not call_sign or len(call_sign) > MAX_ID - 2 or any(ch.isspace() for ch in call_sign):
        raise UnitsFileError(f"{where}: call_sign: required, at most {MAX_ID - 2} characters, no spaces")
    if not v["home_station"]:
        raise UnitsFileError(f"{where}: home_station: required (a station's org code)")
    capabilities = set()
    for name in filter(None, (c.strip() for c in v["capabilities"].split(";"))):
        try:
            capabilities.add(Capability(name))
        except ValueError:
            raise UnitsFileError(f"{where}: capabilities: unknown {name!r}; one or more of "
                                 f"{', '.join(c.value for c in Capability)}, separated by ';'") from None
    if not capabilities:
        raise UnitsFileError(f"{where}: capabilities: required")
    crew = v.get("crew_size") or "2"
    if not (crew.isascii() and crew.isdigit()) or not 1 <= int(crew) <= MAX_CREW:
        raise UnitsFileError(f"{where}: crew_size: a whole number from 1 to {MAX_CREW}")
    unit_id = v.get("id") or f"U-{call_sign}"
    if len(unit_id) > MAX_ID or any(ch.isspace() for ch in unit_id):
        raise UnitsFileError(f"{where}: id: at most {MAX_ID} characters, no spaces")
    status_text = v.get("status") or UnitStatus.OFF_DUTY.value
    if status_text not in {s.value for s in IMPORT_STATUSES}:
        raise UnitsFileError(f"{where}: status: one of {', '.join(s.value for s in IMPORT_STATUSES)}")
    return UnitRecord(id=unit_id, call_sign=call_sign, home_station=v["home_station"],
                      capabilities=frozenset(capabilities), crew_size=int(crew), status=UnitStatus(status_text),
                      position=_position(where, v.get("lat", ""), v.get("lon", "")), line=line)


def _position(where: str, lat: str, lon: str) -> GeoPoint | None:
    if not lat and not lon:
        return None
    try:
        return GeoPoint(lat=float(lat), lon=float(lon))  # refuses NaN and out-of-range degrees too
    except ValueError:
        raise UnitsFileError(f"{where}: lat, lon: both, as decimal degrees (WGS 84), or neither") from None


def units_to_csv(units: list[Unit]) -> str:
    """The units as ``unit_records_from_csv`` reads them (positions as they are now)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for u in sorted(units, key=lambda u: u.call_sign):
        # a unit busy on an incident is on duty; the incident itself does not travel with the roster
        status = u.status if u.status in IMPORT_STATUSES else UnitStatus.AVAILABLE
        writer.writerow([u.call_sign, u.home_station, ";".join(sorted(c.value for c in u.capabilities)),
                         u.crew_size, u.id, status.value,
                         "" if u.position is None else round(u.position.lat, 7),
                         "" if u.position is None else round(u.position.lon, 7)])
    return buffer.getvalue()
