"""Short-term place forecasts on a grid: four models, from the simplest an analyst would use to a
self-exciting point process, all scoring the same cells for the period that starts at ``origin``.

- ``naive``: last period's counts (what happened last week happens again).
- ``retrospective_kde``: a Gaussian kernel density of the past year (the usual hotspot map).
- ``prospective_hotspot``: Bowers, Johnson & Pease (2004): recent nearby incidents count more,
  weight 1/(1+distance in cells) × 1/(1+age in weeks) within 400 m and 8 weeks (their published values).
- ``seppexp``: the grid ETAS model of Mohler et al. (2015): a smooth background rate plus
  triggering that decays exponentially in time and spreads as a Gaussian in space, fitted by EM
  (``jingwu.analytics.etas``).

A model never sees incidents at or after ``origin``. Bandwidths are chosen from the data before the
first origin (``choose_kde_sigma``), never from constants tuned to one city.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from jingwu.analytics.etas import EtasFit, fit_etas, predict_etas
from jingwu.analytics.grid import Grid

FloatArray = npt.NDArray[np.float64]
MODEL_NAMES = ("naive", "retrospective_kde", "prospective_hotspot", "seppexp")
KDE_WINDOW_DAYS = 365.0
"""The conventional analyst's hotspot map: the past year."""
SEPP_HISTORY_DAYS = 3 * 365.0
"""The point process separates the long-run background from short-lived triggering, so it is fitted
on up to three years (a fitted background rate is steadier the longer the record it averages)."""
PROSPECTIVE_RADIUS_M = 400.0
PROSPECTIVE_WEEKS = 8


@dataclass(frozen=True)
class History:
    """Incident places (local metres) and times (days), sorted by time."""

    x: FloatArray
    y: FloatArray
    t: FloatArray

    def between(self, start: float, end: float) -> History:
        lo, hi = np.searchsorted(self.t, [start, end], side="left")
        return History(self.x[lo:hi], self.y[lo:hi], self.t[lo:hi])


@dataclass
class ForecastContext:
    """What the models share over one backtest: grid, horizon, chosen bandwidth and the last ETAS fit
    (a warm start makes refitting every period cheap)."""

    grid: Grid
    horizon_days: float
    kde_sigma_m: float
    window_days: float = KDE_WINDOW_DAYS
    sepp_history_days: float = SEPP_HISTORY_DAYS
    etas: EtasFit | None = field(default=None)


Model = Callable[[History, float, ForecastContext], FloatArray]


def naive(history: History, origin: float, ctx: ForecastContext) -> FloatArray:
    last = history.between(origin - ctx.horizon_days, origin)
    return ctx.grid.counts(last.x, last.y).ravel()


def retrospective_kde(history: History, origin: float, ctx: ForecastContext) -> FloatArray:
    past = history.between(origin - ctx.window_days, origin)
    return ctx.grid.smooth(ctx.grid.counts(past.x, past.y), ctx.kde_sigma_m).ravel()


def prospective_kernel(cell_m: float) -> FloatArray:
    """Bowers et al.'s distance weight 1/(1 + d) with d in cells, cut at 400 m."""
    reach = int(np.floor(PROSPECTIVE_RADIUS_M / cell_m))
    off = np.arange(-reach, reach + 1)
    d = np.hypot(*np.meshgrid(off, off))
    return np.where(d * cell_m <= PROSPECTIVE_RADIUS_M, 1.0 / (1.0 + d), 0.0)


def prospective_hotspot(history: History, origin: float, ctx: ForecastContext) -> FloatArray:
    recent = history.between(origin - 7.0 * PROSPECTIVE_WEEKS, origin)
    weeks = np.floor((origin - recent.t) / 7.0)
    weighted = ctx.grid.counts(recent.x, recent.y, 1.0 / (1.0 + weeks))
    kernel = prospective_kernel(ctx.grid.cell_m)
    return np.asarray(ndimage.convolve(weighted, kernel, mode="constant")).ravel()


def seppexp(history: History, origin: float, ctx: ForecastContext) -> FloatArray:
    start = max(origin - ctx.sepp_history_days, float(history.t[0]) if len(history.t) else origin)
    past = history.between(start, origin)
    ctx.etas = fit_etas(past.x, past.y, past.t, start, origin, ctx.grid, ctx.kde_sigma_m,
                        start_fit=ctx.etas)
    return predict_etas(ctx.etas, past.x, past.y, past.t, origin, ctx.horizon_days, ctx.grid).ravel()


MODELS: dict[str, Model] = {
    "naive": naive,
    "retrospective_kde": retrospective_kde,
    "prospective_hotspot": prospective_hotspot,
    "seppexp": seppexp,
}


def captured(scores: FloatArray, counts: FloatArray, flagged: int) -> float:
    """Incidents in the ``flagged`` top-scoring cells. Cells tied at the cut are taken in proportion
    (the expected result of breaking ties at random), so a model gains nothing from cell order."""
    if flagged <= 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    cut = scores[order[flagged - 1]]
    above = scores > cut
    tied = scores == cut
    room = flagged - int(above.sum())
    tied_n = int(tied.sum())
    return float(counts[above].sum() + (counts[tied].sum() * room / tied_n if tied_n else 0.0))


def best_possible(counts: FloatArray, flagged: int) -> float:
    """Incidents a perfect forecast would capture in ``flagged`` cells (PEI's denominator)."""
    return float(np.sort(counts)[::-1][:flagged].sum())


def choose_kde_sigma(history: History, first_origin: float, ctx: ForecastContext, region: npt.NDArray[np.bool_],
                     coverage: float = 0.05, periods: int = 12) -> float:
    """The kernel bandwidth that captured most incidents over the ``periods`` periods before the first
    backtest origin (so the choice never sees the test data). Candidates scale with the cell."""
    candidates = ctx.grid.cell_m * np.array([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
    flagged = max(1, round(coverage * region.sum()))
    origins = [first_origin - k * ctx.horizon_days for k in range(periods, 0, -1)]
    origins = [o for o in origins if o - ctx.window_days / 2 >= history.t[0]] if len(history.t) else []
    if not origins:
        return float(2.0 * ctx.grid.cell_m)
    scores = np.zeros(len(candidates))
    for origin in origins:
        test = history.between(origin, origin + ctx.horizon_days)
        counts = ctx.grid.counts(test.x, test.y).ravel()[region]
        past = history.between(origin - ctx.window_days, origin)
        base = ctx.grid.counts(past.x, past.y)
        for i, sigma in enumerate(candidates):
            scores[i] += captured(ctx.grid.smooth(base, float(sigma)).ravel()[region], counts, flagged)
    return float(candidates[int(np.argmax(scores))])
