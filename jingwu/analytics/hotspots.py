"""Hotspot maps: where incidents concentrate, three ways.

- a kernel density surface on a square grid (what most analysts draw);
- H3 hexagon counts (equal-area cells that tile the whole country, so maps from different stations
  and cities line up);
- Getis-Ord Gi* on the hexagons (PySAL esda) with permutation p-values, and the Benjamini-Hochberg
  false-discovery-rate rule across all hexagons, so a map of thousands of cells does not light up
  by chance: a cell is a hot (or cold) spot only if it survives FDR at ``alpha``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import h3
import numpy as np
import numpy.typing as npt

from jingwu.analytics.grid import Grid
from jingwu.analytics.records import IncidentRecords

FloatArray = npt.NDArray[np.float64]
DEFAULT_RESOLUTION = 9
"""H3 resolution 9: hexagons of about 0.1 km² (edge ≈ 200 m), about a city block group."""


@dataclass(frozen=True)
class DensitySurface:
    grid: Grid
    density: FloatArray
    """Expected incidents per km² over the records' period, shape (ny, nx)."""
    bandwidth_m: float


@dataclass(frozen=True)
class HexHotspots:
    cells: npt.NDArray[np.str_]
    """H3 cells with incidents and their immediate neighbours (zeros matter to Gi*)."""
    counts: FloatArray
    z: FloatArray
    """Gi* standardised statistic (positive = more than the surroundings suggest)."""
    p_value: FloatArray
    """Pseudo p-value from conditional permutations (one-sided, in the direction of z)."""
    hot: npt.NDArray[np.bool_]
    cold: npt.NDArray[np.bool_]
    resolution: int
    alpha: float
    permutations: int


def choose_bandwidth(grid: Grid, x: FloatArray, y: FloatArray) -> float:
    """The kernel bandwidth that best predicts held-out incidents (likelihood cross-validation):
    every other incident in time order is held out and scored under the density of the rest.
    Candidates are multiples of the cell; the analyst may override the choice."""
    if len(x) < 4:
        return 2.0 * grid.cell_m
    held = np.arange(len(x)) % 2 == 1
    fitted = grid.counts(x[~held], y[~held])
    cells = grid.cell_of(x[held], y[held])
    cells = cells[cells >= 0]
    floor = 1e-6 / grid.size
    best, best_score = 2.0 * grid.cell_m, -np.inf
    for factor in (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0):
        density = grid.smooth(fitted, factor * grid.cell_m).ravel()
        score = float(np.log(density[cells] / density.sum() + floor).mean())
        if score > best_score:
            best, best_score = factor * grid.cell_m, score
    return float(best)


def density_surface(records: IncidentRecords, cell_m: float = 100.0,
                    bandwidth_m: float | None = None) -> DensitySurface:
    lat0, lon0 = records.centre()
    x, y = records.metres((lat0, lon0))
    margin = int(np.ceil(3 * (bandwidth_m or 12.0 * cell_m) / cell_m))
    grid = Grid.covering(x, y, cell_m, lat0, lon0, margin_cells=margin)
    bw = bandwidth_m if bandwidth_m is not None else choose_bandwidth(grid, x, y)
    density = grid.smooth(grid.counts(x, y), bw) / (cell_m / 1000.0) ** 2
    return DensitySurface(grid, density, bw)


def hex_counts(lat: FloatArray, lon: FloatArray, resolution: int = DEFAULT_RESOLUTION) -> tuple[
        npt.NDArray[np.str_], FloatArray]:
    """Incidents per H3 cell. Each distinct location (to ~1 m) is indexed once, so a million records
    at a city's few hundred thousand addresses cost a few hundred thousand H3 calls."""
    if len(lat) == 0:
        return np.zeros(0, str), np.zeros(0)
    points = np.round(np.column_stack([lat, lon]), 5)
    places, which = np.unique(points, axis=0, return_inverse=True)
    place_cells = np.array([h3.latlng_to_cell(float(a), float(b), resolution) for a, b in places])
    cells, cell_of_place = np.unique(place_cells, return_inverse=True)
    counts = np.bincount(cell_of_place[which.ravel()], minlength=len(cells)).astype(float)
    return cells, counts


def benjamini_hochberg(p: FloatArray, alpha: float) -> npt.NDArray[np.bool_]:
    """Which tests are discoveries with the false-discovery rate held at ``alpha``."""
    m = len(p)
    if m == 0:
        return np.zeros(0, bool)
    order = np.argsort(p)
    passed = p[order] <= alpha * np.arange(1, m + 1) / m
    keep = np.zeros(m, bool)
    if passed.any():
        keep[order[: int(np.flatnonzero(passed).max()) + 1]] = True
    return keep


def hex_hotspots(records: IncidentRecords, resolution: int = DEFAULT_RESOLUTION, permutations: int = 999,
                 alpha: float = 0.05, seed: int = 12345) -> HexHotspots:
    import esda
    from libpysal.weights import W

    occupied, counts = hex_counts(records.lat, records.lon, resolution)
    if len(occupied) == 0:
        empty = np.zeros(0)
        return HexHotspots(np.zeros(0, str), empty, empty, empty, np.zeros(0, bool), np.zeros(0, bool), resolution,
                           alpha, permutations)
    study = set(occupied.tolist())
    for cell in occupied:
        study.update(h3.grid_disk(str(cell), 1))
    cells = np.array(sorted(study))
    index = {c: i for i, c in enumerate(cells.tolist())}
    y = np.zeros(len(cells))
    y[[index[c] for c in occupied.tolist()]] = counts
    neighbours = {i: [index[n] for n in h3.grid_disk(c, 1) if n != c and n in index] for i, c in enumerate(cells)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weights = W(neighbours, silence_warnings=True)
        gi = esda.G_Local(y, weights, transform="B", star=True, permutations=permutations, seed=seed)
    z = np.asarray(gi.Zs, float)
    p = np.asarray(gi.p_sim, float)
    found = benjamini_hochberg(p, alpha)
    return HexHotspots(cells, y, z, p, found & (z > 0), found & (z < 0), resolution, alpha, permutations)
