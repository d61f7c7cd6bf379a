"""Rolling-origin backtest of the forecast models: train on the past, predict the next day or week,
count what the flagged cells caught, move on. Measures, per model and area coverage, the hit rate,
PAI (hit rate ÷ area share) and PEI (hit rate ÷ the best any forecast could have done), with bootstrap
confidence intervals over periods, how far the result moves when the grid is shifted by half a cell,
and which districts the flagged area falls in (so a concentration of patrols is visible).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from jingwu.analytics.forecast import (
    MODEL_NAMES,
    MODELS,
    ForecastContext,
    History,
    best_possible,
    captured,
    choose_kde_sigma,
)
from jingwu.analytics.grid import Grid, study_region
from jingwu.analytics.records import IncidentRecords

COVERAGES = (0.01, 0.05, 0.10, 0.20)
HEADLINE = 0.05
PERIOD_DAYS = {"day": 1.0, "week": 7.0}
DEFAULT_PERIODS = {"day": 180, "week": 104}
BOOTSTRAP = 1000
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class ModelScore:
    name: str
    hit_rate: dict[float, Interval]
    pai: dict[float, Interval]
    pei: dict[float, Interval]
    shifted_hit_rate: dict[float, float] = field(default_factory=dict)
    """Hit rate with the grid moved half a cell east and north."""


@dataclass(frozen=True)
class BacktestResult:
    models: dict[str, ModelScore]
    best: str
    periods: int
    period: str
    cell_m: float
    kde_sigma_m: float
    test_incidents: int
    origins: tuple[str, ...]
    etas: dict[str, float]
    district_share: dict[str, dict[str, float]]
    """Per model: mean share of the flagged area (at 5 %) in each district."""
    district_area: dict[str, float]
    """Each district's share of the study region, for comparison."""
    best_district_share_by_period: list[dict[str, float]]
    best_vs_kde: Interval
    """Ratio of incidents caught at 5 % by the best model to those caught by ``retrospective_kde``,
    with a paired bootstrap interval over periods (the two share every test period)."""

    def to_json(self) -> dict[str, Any]:
        def plain(d: dict[float, Interval]) -> dict[str, float]:
            return {f"{c:g}": round(v.value, 5) for c, v in d.items()}

        def ci(d: dict[float, Interval]) -> dict[str, list[float]]:
            return {f"{c:g}": [round(v.low, 5), round(v.high, 5)] for c, v in d.items()}

        return {
            "models": {
                name: {
                    "hit_rate": plain(m.hit_rate), "pai": plain(m.pai), "pei": plain(m.pei),
                    "hit_rate_ci95": ci(m.hit_rate), "pai_ci95": ci(m.pai), "pei_ci95": ci(m.pei),
                    "hit_rate_half_cell_shift": {f"{c:g}": round(v, 5) for c, v in m.shifted_hit_rate.items()},
                }
                for name, m in self.models.items()
            },
            "best": self.best,
            "best_vs_retrospective_kde": {
                "coverage": HEADLINE, "ratio": round(self.best_vs_kde.value, 4),
                "ratio_ci95": [round(self.best_vs_kde.low, 4), round(self.best_vs_kde.high, 4)],
            },
            "periods": self.periods,
            "period": self.period,
            "cell_m": self.cell_m,
            "kde_sigma_m": self.kde_sigma_m,
            "test_incidents": self.test_incidents,
            "origins": list(self.origins),
            "seppexp_last_fit": self.etas,
            "flagged_area_by_district": {
                "coverage": HEADLINE,
                "district_area_share": self.district_area,
                "mean_flagged_share": self.district_share,
                "best_model_by_period": [
                    {"origin": o, "shares": s}
                    for o, s in zip(self.origins, self.best_district_share_by_period, strict=True)
                ],
            },
        }


@dataclass
class _Tally:
    """Per-period captures for every model and coverage (one grid placement)."""

    hits: dict[str, npt.NDArray[np.float64]]
    best: npt.NDArray[np.float64]
    tests: npt.NDArray[np.float64]
    flagged: npt.NDArray[np.float64]
    district_flags: dict[str, npt.NDArray[np.float64]]
    region_cells: int


def cell_districts(grid: Grid, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64],
                    station: npt.NDArray[np.str_]) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Each cell's district: the one most of its incidents were recorded in (-1 if none)."""
    names, codes = np.unique(station, return_inverse=True)
    cells = grid.cell_of(x, y)
    ok = cells >= 0
    table = np.zeros((grid.size, len(names)))
    np.add.at(table, (cells[ok], codes[ok]), 1.0)
    owner = np.where(table.sum(1) > 0, table.argmax(1), -1)
    return owner.astype(np.int64), [str(n) for n in names]


def _run(history: History, origins: npt.NDArray[np.float64], ctx: ForecastContext,
         region: npt.NDArray[np.bool_], owner: npt.NDArray[np.int64], n_districts: int,
         progress: Progress | None, step: int, steps: int) -> _Tally:
    region_cells = int(region.sum())
    flagged = np.array([max(1, round(c * region_cells)) for c in COVERAGES])
    p = len(origins)
    tally = _Tally({m: np.zeros((len(COVERAGES), p)) for m in MODEL_NAMES}, np.zeros((len(COVERAGES), p)),
                   np.zeros(p), flagged.astype(float), {m: np.zeros((p, n_districts)) for m in MODEL_NAMES},
                   region_cells)
    owner_in_region = owner[region]
    headline = COVERAGES.index(HEADLINE)
    for k, origin in enumerate(origins):
        test = history.between(origin, origin + ctx.horizon_days)
        counts = ctx.grid.counts(test.x, test.y).ravel()[region]
        tally.tests[k] = counts.sum()
        for c, f in enumerate(flagged):
            tally.best[c, k] = best_possible(counts, int(f))
        for name in MODEL_NAMES:
            scores = MODELS[name](history, float(origin), ctx)[region]
            for c, f in enumerate(flagged):
                tally.hits[name][c, k] = captured(scores, counts, int(f))
            top = np.argsort(-scores, kind="stable")[: flagged[headline]]
            owners = owner_in_region[top]
            tally.district_flags[name][k] = np.bincount(owners[owners >= 0], minlength=n_districts)
        if progress is not None:
            progress(step + k + 1, steps)
    return tally


def _bootstrap(num: npt.NDArray[np.float64], den: npt.NDArray[np.float64], scale: float,
               rng: np.random.Generator) -> Interval:
    """Ratio of sums over periods, with a 95 % percentile interval from resampling periods."""
    value = float(num.sum() / den.sum()) * scale if den.sum() > 0 else 0.0
    idx = rng.integers(0, len(num), size=(BOOTSTRAP, len(num)))
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = num[idx].sum(1) / den[idx].sum(1) * scale
    reps = reps[np.isfinite(reps)]
    if len(reps) == 0:
        return Interval(value, value, value)
    return Interval(value, float(np.quantile(reps, 0.025)), float(np.quantile(reps, 0.975)))


def backtest(records: IncidentRecords, period: str = "week", cell_m: float = 150.0, max_periods: int | None = None,
             progress: Progress | None = None, seed: int = 7) -> BacktestResult:
    """Backtest all four models over the last ``max_periods`` periods of the records."""
    if period not in PERIOD_DAYS:
        raise ValueError(f"period must be one of {', '.join(PERIOD_DAYS)}")
    horizon = PERIOD_DAYS[period]
    wanted = max_periods or DEFAULT_PERIODS[period]
    lat0, lon0 = records.centre()
    x, y = records.metres((lat0, lon0))
    t = records.days()
    history = History(x, y, t)
    last = np.floor(t.max()) + 1.0  # end of the last (whole) day in the records
    available = int((last - t.min() - 2 * 365.0 / 4) // horizon)
    n = min(wanted, available)
    if n < 2:
        raise ValueError("too few records for a backtest: need about six months of history before the "
                         "test periods and two periods to test")
    origins = last - horizon * np.arange(n, 0, -1)
    steps = 2 * n
    results: list[_Tally] = []
    sigma = 0.0
    owner_names: list[str] = []
    district_area: dict[str, float] = {}
    fits: list[dict[str, float]] = []
    for shift_no, offset in enumerate([(0.0, 0.0), (cell_m / 2, cell_m / 2)]):
        grid = Grid.covering(x, y, cell_m, lat0, lon0, offset=offset)
        region = study_region(grid, x, y)
        owner, owner_names = cell_districts(grid, x, y, records.station)
        ctx = ForecastContext(grid, horizon, kde_sigma_m=0.0)
        ctx.kde_sigma_m = sigma if shift_no else choose_kde_sigma(history, float(origins[0]), ctx, region)
        sigma = ctx.kde_sigma_m
        if not shift_no:
            own = owner[region]
            district_area = {d: round(float((own == i).mean()), 4) for i, d in enumerate(owner_names)}
        results.append(_run(history, origins, ctx, region, owner, len(owner_names), progress, shift_no * n, steps))
        if ctx.etas is not None and not shift_no:
            fits.append({"background_per_day": ctx.etas.b, "theta": ctx.etas.theta,
                         "mean_delay_days": 1.0 / ctx.etas.omega, "sigma_m": ctx.etas.sigma_m,
                         "em_iterations": float(ctx.etas.iterations)})
    main, shifted = results
    rng = np.random.default_rng(seed)
    scores: dict[str, ModelScore] = {}
    for name in MODEL_NAMES:
        hr, pai, pei, moved = {}, {}, {}, {}
        for c, cov in enumerate(COVERAGES):
            share = main.flagged[c] / main.region_cells
            hr[cov] = _bootstrap(main.hits[name][c], main.tests, 1.0, np.random.default_rng(rng.integers(1 << 31)))
            pai[cov] = _bootstrap(main.hits[name][c], main.tests, 1.0 / share,
                                  np.random.default_rng(rng.integers(1 << 31)))
            pei[cov] = _bootstrap(main.hits[name][c], main.best[c], 1.0, np.random.default_rng(rng.integers(1 << 31)))
            moved[cov] = float(shifted.hits[name][c].sum() / max(shifted.tests.sum(), 1.0))
        scores[name] = ModelScore(name, hr, pai, pei, moved)
    best = max(MODEL_NAMES, key=lambda m: scores[m].hit_rate[HEADLINE].value)
    shares: dict[str, dict[str, float]] = {}
    for name in MODEL_NAMES:
        flags = main.district_flags[name]
        mean = flags.sum(0) / max(flags.sum(), 1.0)
        shares[name] = {d: round(float(v), 4) for d, v in zip(owner_names, mean, strict=True)}
    per_period = [
        {d: round(float(v / max(row.sum(), 1.0)), 4) for d, v in zip(owner_names, row, strict=True)}
        for row in main.district_flags[best]
    ]
    headline = COVERAGES.index(HEADLINE)
    versus = _bootstrap(main.hits[best][headline], main.hits["retrospective_kde"][headline], 1.0, rng)
    origin_text = tuple(str(np.datetime64(int(o * 86_400), "s").astype("datetime64[D]")) for o in origins)
    return BacktestResult(scores, best, n, period, cell_m, sigma, int(main.tests.sum()), origin_text,
                          fits[-1] if fits else {}, shares, district_area, per_period, versus)
