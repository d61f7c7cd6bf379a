"""The forecast for the coming day or week as a map layer: the cells a model flags at a given area
coverage, with each cell's expected count, and the share of the flagged area in each district (so
every forecast run shows where patrol attention would concentrate; see docs/analytics.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jingwu.analytics.backtest import PERIOD_DAYS, cell_districts
from jingwu.analytics.forecast import MODELS, ForecastContext, History, choose_kde_sigma
from jingwu.analytics.grid import Grid, study_region
from jingwu.analytics.records import IncidentRecords


@dataclass(frozen=True)
class PeriodForecast:
    model: str
    origin: str
    """First day of the forecast period (UTC date)."""
    period: str
    grid: Grid
    flagged: npt.NDArray[np.int64]
    """Flat cell indices, highest score first."""
    expected: npt.NDArray[np.float64]
    """The model's score of each flagged cell (expected incidents for seppexp)."""
    coverage: float
    district_share: dict[str, float]
    district_area: dict[str, float]


def forecast_next(records: IncidentRecords, model: str = "seppexp", period: str = "week", cell_m: float = 150.0,
                  coverage: float = 0.05) -> PeriodForecast:
    """Fit on everything before the day after the last record and flag ``coverage`` of the region."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    if period not in PERIOD_DAYS:
        raise ValueError(f"period must be one of {', '.join(PERIOD_DAYS)}")
    if not 0 < coverage < 1:
        raise ValueError("coverage must be between 0 and 1")
    if len(records) < 10:
        raise ValueError("too few records to forecast")
    lat0, lon0 = records.centre()
    x, y = records.metres((lat0, lon0))
    history = History(x, y, records.days())
    origin = float(np.floor(history.t[-1])) + 1.0
    grid = Grid.covering(x, y, cell_m, lat0, lon0)
    region = study_region(grid, x, y)
    ctx = ForecastContext(grid, PERIOD_DAYS[period], kde_sigma_m=0.0)
    ctx.kde_sigma_m = choose_kde_sigma(history, origin, ctx, region)
    scores = MODELS[model](history, origin, ctx)
    cells = np.flatnonzero(region)
    order = cells[np.argsort(-scores[cells], kind="stable")]
    flagged = order[: max(1, round(coverage * len(cells)))]
    owner, names = cell_districts(grid, x, y, records.station)
    counts = np.bincount(owner[flagged][owner[flagged] >= 0], minlength=len(names))
    area = np.bincount(owner[cells][owner[cells] >= 0], minlength=len(names))
    day = str(np.datetime64(int(origin * 86_400), "s").astype("datetime64[D]"))
    return PeriodForecast(model, day, period, grid, flagged.astype(np.int64), scores[flagged], coverage,
                          {d: round(float(v / max(counts.sum(), 1)), 4) for d, v in zip(names, counts, strict=True)},
                          {d: round(float(v / len(cells)), 4) for d, v in zip(names, area, strict=True)})


def forecast_geojson(forecast: PeriodForecast) -> dict[str, Any]:
    features = [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [forecast.grid.cell_polygon(int(cell))]},
         "properties": {"layer": "forecast", "rank": rank + 1, "score": round(float(score), 4)}}
        for rank, (cell, score) in enumerate(zip(forecast.flagged, forecast.expected, strict=True))
    ]
    return {"type": "FeatureCollection", "features": features,
            "properties": {"model": forecast.model, "period": forecast.period, "from": forecast.origin,
                           "coverage": forecast.coverage, "cell_m": forecast.grid.cell_m,
                           "flagged_share_by_district": forecast.district_share,
                           "district_area_share": forecast.district_area}}


def write_forecast(forecast: PeriodForecast, out_dir: Path) -> list[Path]:
    """forecast.geojson and forecast.png in ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    geo = out_dir / "forecast.geojson"
    geo.write_text(json.dumps(forecast_geojson(forecast)), encoding="utf-8")
    grid = forecast.grid
    image = np.full(grid.size, np.nan)
    image[forecast.flagged] = forecast.expected
    lat, lon = grid.to_latlon(np.array([grid.x0, grid.x0 + grid.nx * grid.cell_m]),
                              np.array([grid.y0, grid.y0 + grid.ny * grid.cell_m]))
    fig, ax = plt.subplots(figsize=(7, 8))
    shown = ax.imshow(image.reshape(grid.shape), origin="lower", cmap="Reds",
                      extent=(float(lon[0]), float(lon[1]), float(lat[0]), float(lat[1])),
                      aspect=1 / np.cos(np.radians(grid.lat0)))
    fig.colorbar(shown, ax=ax, shrink=0.7, label="model score (expected incidents for seppexp)")
    ax.set_title(f"{forecast.model}: {forecast.coverage:.0%} of the area flagged for the {forecast.period} "
                 f"from {forecast.origin}", fontsize=9)
    fig.tight_layout()
    png = out_dir / "forecast.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return [geo, png]
