"""Surge early warning: has a station area seen more incidents of one family today (or this hour)
than its recent past explains?

Four classic detectors of public-health surveillance, which need no model fitting and so work from
a station's first weeks of data:

- EARS C1: today against the mean and sd of the previous 7 days, alarm at 3 sd;
- EARS C2: the same with a 2-day guard band (so a surge building over days is not in its own baseline);
- EARS C3: the sum of C2's excess over the last 3 days, alarm above 2;
- Poisson CUSUM: accumulates log-likelihood evidence for a doubling of the baseline rate (28 days,
  2-day guard), alarm at ``CUSUM_H``, then restarts.

On hourly counts the baseline of an hour is the same hour on the previous days (a Saturday 23:00 is
not compared with a Saturday 05:00). Alerts are plain frozen dataclasses; the service layer
publishes them on the bus and the command map shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from jingwu.analytics.records import IncidentRecords

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
METHODS = ("ears_c1", "ears_c2", "ears_c3", "poisson_cusum")
EARS_THRESHOLD = 3.0
C3_THRESHOLD = 2.0
SD_FLOOR = 0.5
"""EARS divides by the baseline sd; a quiet area with seven zero days would otherwise alarm on one
incident. 0.5 means two incidents after a week of none is flagged, one is not."""
CUSUM_BASELINE = 28
CUSUM_GUARD = 2
CUSUM_H = 5.0
"""Decision threshold in log-likelihood units (≈ odds of e⁵ ≈ 150 : 1 for a doubled rate)."""


@dataclass(frozen=True, slots=True)
class SurgeAlert:
    """More incidents of ``family`` in ``area`` in the bin starting ``at`` than expected."""

    area: str
    family: str
    at: datetime
    method: str
    observed: int
    expected: float
    statistic: float


@dataclass(frozen=True)
class CountSeries:
    """Incident counts per (area, family) and time bin: ``counts[k]`` belongs to ``keys[k]``."""

    keys: list[tuple[str, str]]
    start: np.datetime64
    step: np.timedelta64
    counts: FloatArray

    @property
    def season(self) -> int:
        """Bins between comparable bins: 24 for hours (same hour, previous day), else 1."""
        return 24 if self.step == np.timedelta64(1, "h") else 1

    def time_of(self, k: int) -> datetime:
        moment = (self.start + k * self.step).astype("datetime64[s]").astype(datetime)
        return moment  # type: ignore[no-any-return]


def count_series(records: IncidentRecords, freq: str = "day") -> CountSeries:
    """Counts per station area × family per day (``freq="day"``) or hour (``"hour"``)."""
    if freq not in ("day", "hour"):
        raise ValueError("freq must be day or hour")
    unit: Any = "D" if freq == "day" else "h"
    bins = records.t.astype(f"datetime64[{unit}]")
    start = bins.min() if len(bins) else np.datetime64("1970-01-01", unit)
    index = (bins - start).astype(np.int64)
    areas = np.where(records.station == "", "all", records.station)
    pair = np.char.add(np.char.add(areas.astype(str), "\x1f"), records.family.astype(str))
    names, which = np.unique(pair, return_inverse=True)
    length = int(index.max()) + 1 if len(index) else 0
    counts = np.zeros((len(names), length))
    np.add.at(counts, (which, index), 1.0)
    keys = [(str(a), str(f)) for a, f in (n.split("\x1f", 1) for n in names.tolist())]
    return CountSeries(keys, start, np.timedelta64(1, unit), counts)


def _lagged(x: FloatArray, season: int, first_lag: int, length: int) -> tuple[FloatArray, FloatArray]:
    """Mean and sd of the ``length`` comparable bins ending ``first_lag`` comparable bins ago
    (NaN where the history is too short). Works on the last axis; leading axes are series."""
    span = (first_lag + length - 1) * season
    pad = np.full((*x.shape[:-1], span), np.nan)
    padded = np.concatenate([pad, x], axis=-1)
    windows = sliding_window_view(padded, span + 1, axis=-1)[..., : x.shape[-1], :]
    picks = windows[..., [span - (first_lag + i) * season for i in range(length)]]
    return np.mean(picks, axis=-1), np.std(picks, axis=-1, ddof=1)


def ears(x: FloatArray, method: str, season: int = 1) -> tuple[FloatArray, BoolArray, FloatArray]:
    """(statistic, alarm, expected) for EARS C1, C2 or C3 on count series ``x`` (last axis = time)."""
    first_lag = 1 if method == "ears_c1" else 3
    mean, sd = _lagged(x, season, first_lag, 7)
    with np.errstate(invalid="ignore"):
        stat = (x - mean) / np.maximum(np.nan_to_num(sd, nan=SD_FLOOR), SD_FLOOR)
    stat = np.nan_to_num(stat, nan=0.0)
    if method == "ears_c3":
        excess = np.maximum(stat - 1.0, 0.0)
        lag1 = np.concatenate([np.zeros((*x.shape[:-1], season)), excess[..., :-season]], axis=-1)
        lag2 = np.concatenate([np.zeros((*x.shape[:-1], 2 * season)), excess[..., : -2 * season]], axis=-1)
        stat = excess + lag1 + lag2
        return stat, stat > C3_THRESHOLD, np.nan_to_num(mean)
    return stat, stat > EARS_THRESHOLD, np.nan_to_num(mean)


def poisson_cusum(x: FloatArray, season: int = 1) -> tuple[FloatArray, BoolArray, FloatArray]:
    """(CUSUM value, alarm, expected) against a doubling of the trailing baseline rate."""
    base, _ = _lagged(x, season, CUSUM_GUARD + 1, CUSUM_BASELINE)
    lam0 = np.maximum(np.nan_to_num(base, nan=np.inf), 1.0 / CUSUM_BASELINE)
    step = x * np.log(2.0) - lam0  # log-likelihood ratio of rate 2·λ0 against λ0
    step = np.where(np.isfinite(lam0), step, 0.0)
    value = np.zeros_like(x)
    alarm = np.zeros(x.shape, bool)
    s = np.zeros(x.shape[:-1])
    for k in range(x.shape[-1]):
        s = np.maximum(0.0, s + step[..., k])
        alarm[..., k] = s > CUSUM_H
        value[..., k] = s
        s = np.where(alarm[..., k], 0.0, s)
    return value, alarm, np.where(np.isfinite(lam0), lam0, 0.0)


def detect(x: FloatArray, method: str, season: int = 1) -> tuple[FloatArray, BoolArray, FloatArray]:
    if method == "poisson_cusum":
        return poisson_cusum(x, season)
    if method in METHODS:
        return ears(x, method, season)
    raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")


def surge_alerts(series: CountSeries, methods: tuple[str, ...] = METHODS, last_bins: int | None = None) -> list[
        SurgeAlert]:
    """Alerts in the last ``last_bins`` bins (all bins if None), oldest first."""
    alerts: list[SurgeAlert] = []
    length = series.counts.shape[1]
    first = 0 if last_bins is None else max(0, length - last_bins)
    for method in methods:
        stat, alarm, expected = detect(series.counts, method, series.season)
        for k, b in zip(*np.nonzero(alarm[:, first:]), strict=True):
            b = int(b) + first
            area, family = series.keys[int(k)]
            alerts.append(SurgeAlert(area, family, series.time_of(b), method, int(series.counts[k, b]),
                                     round(float(expected[k, b]), 3), round(float(stat[k, b]), 3)))
    alerts.sort(key=lambda a: (a.at, a.area, a.family, a.method))
    return alerts
