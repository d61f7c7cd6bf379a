"""A regular square grid in local metres: the cells forecasts score and patrols can be sent to.

Forecasts are judged by how many of next period's incidents fall in the cells they flag, so every
model must score the same cells. The grid's origin can be moved (by half a cell, say) to measure how
much a result depends on where the lines happen to fall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from jingwu.analytics.records import EARTH_RADIUS_M

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
MAX_CELLS = 25_000_000
"""A 5,000 × 5,000 grid (750 km square at 150 m): beyond it the records are not one area's."""


@dataclass(frozen=True, slots=True)
class Grid:
    """``nx`` × ``ny`` cells of ``cell_m`` metres; cell (row, col) spans ``x0 + col*cell_m`` …"""

    x0: float
    y0: float
    cell_m: float
    nx: int
    ny: int
    lat0: float
    lon0: float
    """Projection origin of the metre coordinates (for turning cells back into lat/lon)."""

    @classmethod
    def covering(cls, x: FloatArray, y: FloatArray, cell_m: float, lat0: float, lon0: float,
                 offset: tuple[float, float] = (0.0, 0.0), margin_cells: int = 2) -> Grid:
        """The smallest grid (plus a margin) covering the points, its lines moved by ``offset`` metres."""
        if cell_m <= 0:
            raise ValueError("cell size must be positive")
        x0 = np.floor(x.min() / cell_m) * cell_m - margin_cells * cell_m - offset[0]
        y0 = np.floor(y.min() / cell_m) * cell_m - margin_cells * cell_m - offset[1]
        nx = int(np.ceil((x.max() - x0) / cell_m)) + margin_cells + 1
        ny = int(np.ceil((y.max() - y0) / cell_m)) + margin_cells + 1
        if nx * ny > MAX_CELLS:
            raise ValueError(f"the incidents span {nx * cell_m / 1000:.0f} × {ny * cell_m / 1000:.0f} km: too large "
                             f"for a {cell_m:g} m grid; use a larger cell or split the area")
        return cls(float(x0), float(y0), float(cell_m), nx, ny, lat0, lon0)

    @property
    def size(self) -> int:
        return self.nx * self.ny

    @property
    def shape(self) -> tuple[int, int]:
        return self.ny, self.nx

    def cell_of(self, x: FloatArray, y: FloatArray) -> IntArray:
        """Flat cell index of each point (-1 outside the grid)."""
        col = np.floor((x - self.x0) / self.cell_m).astype(np.int64)
        row = np.floor((y - self.y0) / self.cell_m).astype(np.int64)
        inside = (col >= 0) & (col < self.nx) & (row >= 0) & (row < self.ny)
        return np.where(inside, row * self.nx + col, -1)

    def counts(self, x: FloatArray, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        """Points (optionally weighted) per cell, as a (ny, nx) array."""
        idx = self.cell_of(x, y)
        ok = idx >= 0
        w = None if weights is None else weights[ok]
        return np.bincount(idx[ok], weights=w, minlength=self.size).astype(float).reshape(self.shape)

    def smooth(self, counts: FloatArray, sigma_m: float) -> FloatArray:
        """Gaussian kernel density of gridded counts (same total mass), bandwidth in metres."""
        if sigma_m <= 0:
            return counts.astype(float)
        return np.asarray(ndimage.gaussian_filter(counts.astype(float), sigma_m / self.cell_m, mode="constant",
                                                  truncate=3.0))

    def centres_latlon(self) -> tuple[FloatArray, FloatArray]:
        """Lat/lon of every cell centre, flat in cell-index order."""
        cols, rows = np.meshgrid(np.arange(self.nx), np.arange(self.ny))
        x = (self.x0 + (cols.ravel() + 0.5) * self.cell_m).astype(np.float64)
        y = (self.y0 + (rows.ravel() + 0.5) * self.cell_m).astype(np.float64)
        return self.to_latlon(x, y)

    def to_latlon(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        lat = self.lat0 + np.degrees(y / EARTH_RADIUS_M)
        lon = self.lon0 + np.degrees(x / (EARTH_RADIUS_M * np.cos(np.radians(self.lat0))))
        return lat, lon

    def cell_polygon(self, index: int) -> list[list[float]]:
        """GeoJSON ring ([lon, lat] pairs) of one cell."""
        row, col = divmod(index, self.nx)
        xs = self.x0 + np.array([col, col + 1, col + 1, col, col]) * self.cell_m
        ys = self.y0 + np.array([row, row, row + 1, row + 1, row]) * self.cell_m
        lat, lon = self.to_latlon(xs.astype(float), ys.astype(float))
        return [[round(float(a), 6), round(float(b), 6)] for a, b in zip(lon, lat, strict=True)]


def study_region(grid: Grid, x: FloatArray, y: FloatArray) -> npt.NDArray[np.bool_]:
    """Cells within one cell of any recorded incident: the city's footprint when no boundary is given.
    Area shares (coverage, PAI) are shares of this region, not of the lake or fields around the city."""
    occupied = grid.counts(x, y) > 0
    return np.asarray(ndimage.binary_dilation(occupied, structure=np.ones((3, 3), bool))).ravel()
