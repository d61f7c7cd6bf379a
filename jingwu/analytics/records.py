"""Incident records as columns of numpy arrays: the one input shape every analysis takes.

Analyses work on places and times only, so a record carries when, where, what type (and its family),
who initiated it (public call, online report, officer self-initiated: needed to keep forecasts off the
patrol feedback loop) and which station area it fell in. Nothing about persons. Records come from a
CSV file (with bad rows reported by line number, never silently dropped) or from rows read out of
the database by the service layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

EARTH_RADIUS_M = 6_371_008.8
PUBLIC_SOURCES = frozenset({"public_call", "online_report", "unknown"})
"""Sources a forecast trains on by default. ``unknown`` (a CSV without a source column, such as the
Chicago open-data extract, which holds reported crimes) is kept; officer-initiated records are not."""

REQUIRED = ("time", "lat", "lon")
OPTIONAL = ("type", "family", "source", "station", "priority", "dispatched", "arrived")
ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "received_at", "received", "date", "datetime"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "longitude"),
    "type": ("type", "type_code"),
    "family": ("family",),
    "source": ("source",),
    "station": ("station", "station_code", "district"),
    "priority": ("priority",),
    "dispatched": ("dispatched", "dispatched_at"),
    "arrived": ("arrived", "arrived_at"),
}


class RecordsError(ValueError):
    """The input cannot be read at all (missing file or column, no usable row)."""


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    """1-based line number in the file (the header is line 1)."""
    reason: str


@dataclass(frozen=True)
class IncidentRecords:
    """Incidents as parallel arrays, sorted by time. ``t`` is UTC-naive ``datetime64[s]``."""

    t: npt.NDArray[np.datetime64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    type: npt.NDArray[np.str_]
    family: npt.NDArray[np.str_]
    source: npt.NDArray[np.str_]
    station: npt.NDArray[np.str_]
    priority: npt.NDArray[np.int64] | None = None
    dispatched: npt.NDArray[np.datetime64] | None = None
    arrived: npt.NDArray[np.datetime64] | None = None
    bad_rows: tuple[BadRow, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def select(self, mask: npt.NDArray[np.bool_]) -> IncidentRecords:
        """A subset (keeps the bad-row report of the source)."""

        def pick(a: Any) -> Any:
            return None if a is None else a[mask]

        return IncidentRecords(self.t[mask], self.lat[mask], self.lon[mask], self.type[mask], self.family[mask],
                               self.source[mask], self.station[mask], pick(self.priority), pick(self.dispatched),
                               pick(self.arrived), self.bad_rows)

    def public_initiated(self) -> IncidentRecords:
        """Records reported by the public (default forecast training set; see docs/analytics.md)."""
        return self.select(np.isin(self.source, list(PUBLIC_SOURCES)))

    def days(self) -> npt.NDArray[np.float64]:
        """Time as fractional days since 1970-01-01 (for rates and kernels)."""
        return self.t.astype("datetime64[s]").astype(np.int64) / 86_400.0

    def metres(self, origin: tuple[float, float] | None = None) -> tuple[npt.NDArray[np.float64],
                                                                          npt.NDArray[np.float64]]:
        """Local east/north metres around ``origin`` (lat, lon; default the median point).
        An equirectangular projection is exact to well under a metre per km at city scale."""
        lat0, lon0 = origin if origin is not None else self.centre()
        x = np.radians(self.lon - lon0) * EARTH_RADIUS_M * np.cos(np.radians(lat0))
        y = np.radians(self.lat - lat0) * EARTH_RADIUS_M
        return x, y

    def main_area(self) -> npt.NDArray[np.bool_]:
        """Records inside the box that holds 99 % of them, widened on each side by its size plus 5 km.
        Drops the stray geocoding error hundreds of km away that would stretch a city's grid over a
        continent, and nothing a city really contains (Chicago's O'Hare, 20 km out, stays)."""
        if len(self) < 20:
            return np.ones(len(self), bool)
        x, y = self.metres()
        keep = np.ones(len(self), bool)
        for v in (x, y):
            lo, hi = np.percentile(v, [0.5, 99.5])
            margin = (hi - lo) + 5000.0
            keep &= (v >= lo - margin) & (v <= hi + margin)
        return keep

    def centre(self) -> tuple[float, float]:
        return float(np.median(self.lat)), float(np.median(self.lon))

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> IncidentRecords:
        """From dict rows as read from the ``incidents`` table (``received_at``, ``lat``, ``lon``,
        ``type_code``, ``family``, ``source``, ``station_code``, ``priority``, ``dispatched_at``,
        ``arrived_at``) or already in analysis names."""
        frame = pd.DataFrame(list(rows))
        if frame.empty:
            frame = pd.DataFrame(columns=["time", "lat", "lon"])
        return _from_frame(frame, {}, first_line=1)

    @classmethod
    def from_csv(cls, path: str | Path, columns: Mapping[str, str] | None = None) -> IncidentRecords:
        """Read a CSV (plain or .gz). ``columns`` maps analysis names to file names, e.g.
        ``{"time": "date", "type": "loc_cat"}``; common names (latitude, longitude, district…) are
        recognised without it. Bad rows are skipped and listed in ``bad_rows`` with line numbers."""
        path = Path(path)
        if not path.exists():
            raise RecordsError(f"{path}: no such file")
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise RecordsError(f"{path}: not a readable CSV file ({exc})") from exc
        return _from_frame(frame, dict(columns or {}), first_line=2)


def parse_column_map(text: str | None) -> dict[str, str]:
    """``"time=date,type=loc_cat"`` → ``{"time": "date", "type": "loc_cat"}``."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        name, sep, source = part.partition("=")
        name, source = name.strip(), source.strip()
        if not sep or not name or not source:
            raise RecordsError(f"--columns: expected NAME=COLUMN pairs, got {part!r}")
        if name not in REQUIRED + OPTIONAL:
            raise RecordsError(f"--columns: unknown name {name!r}; known: {', '.join(REQUIRED + OPTIONAL)}")
        out[name] = source
    return out


def _resolve(frame: pd.DataFrame, columns: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    lower = {str(c).strip().lower(): c for c in frame.columns}
    for name in REQUIRED + OPTIONAL:
        if name in columns:
            if columns[name] not in frame.columns:
                raise RecordsError(f"column {columns[name]!r} (given for {name}) is not in the file; "
                                   f"columns are: {', '.join(map(str, frame.columns))}")
            found[name] = columns[name]
            continue
        taken = set(found.values()) | set(columns.values())
        for alias in ALIASES[name]:
            if alias in lower and lower[alias] not in taken:
                found[name] = lower[alias]
                break
    missing = [n for n in REQUIRED if n not in found]
    if missing:
        raise RecordsError(f"missing column(s) {', '.join(missing)}; columns are: {', '.join(map(str, frame.columns))}"
                           " (map them with --columns, e.g. --columns time=date)")
    return found


def _times(values: pd.Series) -> pd.Series:
    """Parse ISO times; aware times are converted to UTC, naive ones are taken as given."""
    text = values.astype(str).str.strip()
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    return parsed.dt.tz_localize(None)


def _from_frame(frame: pd.DataFrame, columns: dict[str, str], first_line: int) -> IncidentRecords:
    found = _resolve(frame, columns)
    n = len(frame)
    bad: dict[int, str] = {}
    t = _times(frame[found["time"]]) if n else pd.Series([], dtype="datetime64[ns]")
    lat = pd.to_numeric(frame[found["lat"]], errors="coerce").to_numpy(float) if n else np.zeros(0)
    lon = pd.to_numeric(frame[found["lon"]], errors="coerce").to_numpy(float) if n else np.zeros(0)
    raw_t = frame[found["time"]].astype(str).to_numpy() if n else np.zeros(0, str)
    for i in np.flatnonzero(t.isna().to_numpy()):
        bad[int(i)] = f"time {raw_t[i]!r} is not an ISO date/time"
    for i in np.flatnonzero(~np.isfinite(lat) | (np.abs(lat) > 90)):
        bad.setdefault(int(i), f"lat {frame[found['lat']].iloc[i]!r} is not a latitude")
    for i in np.flatnonzero(~np.isfinite(lon) | (np.abs(lon) > 180)):
        bad.setdefault(int(i), f"lon {frame[found['lon']].iloc[i]!r} is not a longitude")
    for i in np.flatnonzero((lat == 0) & (lon == 0)):
        bad.setdefault(int(i), "lat/lon 0,0 is a missing location")

    def text(name: str, default: str) -> npt.NDArray[np.str_]:
        if name not in found or n == 0:
            return np.full(n, default, dtype=object).astype(str)
        col = frame[found[name]].fillna("").astype(str).str.strip()
        return col.where(col != "", default).to_numpy(str)

    kinds = text("type", "unspecified")
    family = text("family", "") if "family" in found else kinds
    family = np.where(family == "", kinds, family)
    priority = None
    if "priority" in found and n:
        pr = pd.to_numeric(frame[found["priority"]], errors="coerce").to_numpy(float)
        for i in np.flatnonzero(~np.isfinite(pr)):
            bad.setdefault(int(i), f"priority {frame[found['priority']].iloc[i]!r} is not a number")
        priority = np.nan_to_num(pr).astype(np.int64)
    stamps: dict[str, npt.NDArray[np.datetime64]] = {}
    for name in ("dispatched", "arrived"):
        if name in found and n:
            column = frame[found[name]]
            raw = column.astype(str).str.strip()
            blank = (column.isna() | raw.isna() | raw.isin(["", "nan", "None", "NaT"])).to_numpy()
            parsed = _times(raw.where(~blank, ""))
            unparsable = parsed.isna().to_numpy() & ~blank
            for i in np.flatnonzero(unparsable):
                bad.setdefault(int(i), f"{name} {raw.iloc[i]!r} is not an ISO date/time")
            stamps[name] = parsed.to_numpy("datetime64[s]")
    keep = np.ones(n, bool)
    keep[list(bad)] = False
    if n and not keep.any():
        first = sorted(bad.items())[:3]
        raise RecordsError("no usable row; e.g. " + "; ".join(f"line {i + first_line}: {r}" for i, r in first))
    times = t.to_numpy("datetime64[s]")
    order = np.argsort(times[keep], kind="stable")

    def final(a: Any) -> Any:
        return None if a is None else np.asarray(a)[keep][order]

    return IncidentRecords(
        t=final(times), lat=final(lat), lon=final(lon), type=final(kinds), family=final(family),
        source=final(text("source", "unknown")), station=final(text("station", "")),
        priority=final(priority), dispatched=final(stamps.get("dispatched")), arrived=final(stamps.get("arrived")),
        bad_rows=tuple(BadRow(i + first_line, r) for i, r in sorted(bad.items())),
    )


def utc_naive(moment: datetime) -> np.datetime64:
    """A datetime as the UTC-naive ``datetime64[s]`` the arrays use."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(moment, "s")
