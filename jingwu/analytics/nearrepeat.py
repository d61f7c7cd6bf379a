"""Near-repeat analysis: are incidents close in space also close in time, more than chance allows?

The Knox test counts pairs of incidents in each (distance band × time band) and compares them with
Monte Carlo permutations of the times over the same places (which keeps both the spatial and the
temporal pattern, and breaks only their interaction). A ratio above 1 with a small p-value in the
nearest bands is the near-repeat effect; its extent sets the live alert window: a new incident
within ``distance_m`` and ``days`` of recent ones of the same family raises a ``NearRepeatAlert``
for that place.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from jingwu.analytics.records import IncidentRecords

FloatArray = npt.NDArray[np.float64]
DISTANCE_BANDS_M = (0.0, 100.0, 200.0, 300.0, 400.0)
TIME_BANDS_DAYS = (0.0, 7.0, 14.0, 21.0, 28.0)


@dataclass(frozen=True)
class KnoxResult:
    distance_edges_m: tuple[float, ...]
    """Band k is [edges[k], edges[k+1]) metres."""
    time_edges_days: tuple[float, ...]
    observed: FloatArray
    """Pairs per (distance band, time band); the last time band is "beyond the last edge"."""
    expected: FloatArray
    """Mean over permutations."""
    p_value: FloatArray
    """(1 + permutations with at least as many pairs) / (1 + permutations), one-sided."""
    permutations: int
    incidents: int

    @property
    def ratio(self) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.expected > 0, self.observed / self.expected, np.nan)


@dataclass(frozen=True, slots=True)
class NearRepeatAlert:
    """A new incident at a place where ``recent`` incidents of the same family happened lately."""

    family: str
    lat: float
    lon: float
    at: datetime
    recent: int
    distance_m: float
    days: float


def _bands(lag: FloatArray, dist: FloatArray, dist_edges: Sequence[float], time_edges: Sequence[float]) -> FloatArray:
    d = np.searchsorted(np.asarray(dist_edges[1:]), dist, side="right")
    t = np.searchsorted(np.asarray(time_edges[1:]), lag, side="right")
    ok = d < len(dist_edges) - 1
    shape = (len(dist_edges) - 1, len(time_edges))
    return np.bincount(d[ok] * shape[1] + t[ok], minlength=shape[0] * shape[1]).reshape(shape).astype(float)


def knox_test(records: IncidentRecords, distance_edges_m: Sequence[float] = DISTANCE_BANDS_M,
              time_edges_days: Sequence[float] = TIME_BANDS_DAYS, permutations: int = 99,
              seed: int = 2024) -> KnoxResult:
    """Knox table with Monte Carlo significance. Only pairs within the largest distance matter, so
    the cost is the number of such pairs times the permutations, not n²."""
    x, y = records.metres()
    t = records.days()
    reach = float(distance_edges_m[-1])
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(reach, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    dist = np.hypot(x[i] - x[j], y[i] - y[j])
    keep = dist < reach
    i, j, dist = i[keep], j[keep], dist[keep]
    observed = _bands(np.abs(t[i] - t[j]), dist, distance_edges_m, time_edges_days)
    rng = np.random.default_rng(seed)
    total = np.zeros_like(observed)
    at_least = np.zeros_like(observed)
    for _ in range(permutations):
        shuffled = t[rng.permutation(len(t))]
        table = _bands(np.abs(shuffled[i] - shuffled[j]), dist, distance_edges_m, time_edges_days)
        total += table
        at_least += table >= observed
    return KnoxResult(tuple(float(v) for v in distance_edges_m), tuple(float(v) for v in time_edges_days), observed,
                      total / max(permutations, 1), (1.0 + at_least) / (1.0 + permutations), permutations, len(t))


def near_repeat_alerts(history: IncidentRecords, new: IncidentRecords, distance_m: float = 200.0,
                       days: float = 14.0, min_recent: int = 1) -> list[NearRepeatAlert]:
    """Alerts for each new incident with at least ``min_recent`` incidents of its family in
    ``history`` within ``distance_m`` metres and the ``days`` before it."""
    if len(history) == 0 or len(new) == 0:
        return []
    centre = history.centre()
    hx, hy = history.metres(centre)
    nx, ny = new.metres(centre)
    ht, nt = history.days(), new.days()
    tree = cKDTree(np.column_stack([hx, hy]))
    alerts = []
    for k, near in enumerate(tree.query_ball_point(np.column_stack([nx, ny]), distance_m)):
        near = np.asarray(near, dtype=np.int64)
        if len(near) == 0:
            continue
        lag = nt[k] - ht[near]
        recent = int(np.sum((lag > 0) & (lag <= days) & (history.family[near] == new.family[k])))
        if recent >= min_recent:
            at = new.t[k].astype("datetime64[s]").astype(datetime)
            alerts.append(NearRepeatAlert(str(new.family[k]), float(new.lat[k]), float(new.lon[k]), at, recent,
                                          distance_m, days))
    return alerts


def band_labels(result: KnoxResult) -> tuple[list[str], list[str]]:
    """Row (distance) and column (time) labels of the Knox table."""
    d, t = result.distance_edges_m, result.time_edges_days
    rows = [f"{a:g}-{b:g} m" for a, b in itertools.pairwise(d)]
    cols = [f"{a:g}-{b:g} d" for a, b in itertools.pairwise(t)] + [f">{t[-1]:g} d"]
    return rows, cols


def write_knox(result: KnoxResult, out_dir: Path) -> list[Path]:
    """knox.csv (one row per band pair) and knox.png (the ratio table, significant cells starred)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    rows, cols = band_labels(result)
    table = pd.DataFrame([
        {"distance": rows[d], "time": cols[k], "observed": result.observed[d, k],
         "expected": round(float(result.expected[d, k]), 2), "ratio": round(float(result.ratio[d, k]), 3),
         "p_value": round(float(result.p_value[d, k]), 4)}
        for d in range(len(rows)) for k in range(len(cols))])
    csv = out_dir / "knox.csv"
    table.to_csv(csv, index=False)
    fig, ax = plt.subplots(figsize=(7, 4))
    image = ax.imshow(result.ratio, cmap="RdBu_r", vmin=0.5, vmax=1.5, aspect="auto")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    for d in range(len(rows)):
        for k in range(len(cols)):
            star = "*" if result.p_value[d, k] < 0.05 else ""
            ax.text(k, d, f"{result.ratio[d, k]:.2f}{star}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax, label="Knox ratio")
    ax.set_title(f"Near-repeat (Knox) ratios, {result.incidents:,} incidents; * p < 0.05")
    fig.tight_layout()
    png = out_dir / "knox.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return [csv, png]
