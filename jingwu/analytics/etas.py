"""Self-exciting point process (ETAS) forecasts, after Mohler et al. (2015), fitted by EM.

Crime clusters in time as well as space: an incident raises the chance of another nearby for a
while (repeat and near-repeat victimisation, retaliation). The conditional intensity is

    λ(x, t) = b·f(x) + Σ_{t_i < t} θ ω e^{−ω (t − t_i)} · N(x − x_i; σ²)

with f a smooth background density (Gaussian kernel on the grid, bandwidth chosen from data), b the
background rate per day, θ the expected number of incidents each one triggers, 1/ω their mean delay
in days and σ their spread in metres. Expectation-maximisation alternates: (E) the probability that
each incident is background or was triggered by each earlier nearby one; (M) b, θ, ω, σ and f from
those probabilities. Pairs further apart than ``PAIR_DAYS`` or four cells (or 3 background bandwidths) are
taken as unrelated, which keeps three years of a large city's records to about half a million pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.spatial import cKDTree

from jingwu.analytics.grid import Grid

FloatArray = npt.NDArray[np.float64]
PAIR_DAYS = 60.0
MAX_PAIRS = 4_000_000
"""Pairs held in memory at once. A denser city than Chicago's assaults (all crime in a megacity)
would have many more pairs within reach; the time cut is then shortened until they fit, which
truncates the triggering kernel where it has mostly decayed."""
MAX_ITERATIONS = 60
TOLERANCE = 1e-4
"""EM stops when the log-likelihood gains less than this per incident."""


@dataclass(frozen=True, slots=True)
class EtasFit:
    b: float
    """Background incidents per day (whole grid)."""
    theta: float
    """Expected incidents triggered by one incident."""
    omega: float
    """Decay rate per day (1/ω is the mean delay)."""
    sigma_m: float
    """Spatial spread of triggering, metres."""
    background: FloatArray
    """Background share of each cell (sums to 1), shape (ny, nx)."""
    iterations: int
    log_likelihood: float
    pair_days: float = PAIR_DAYS
    """Longest parent-offspring lag considered (shorter than ``PAIR_DAYS`` only for very dense data)."""


def pairs_within(x: FloatArray, y: FloatArray, t: FloatArray, reach_m: float,
                 days: float) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(earlier, later) index pairs closer than ``reach_m`` and ``days``; ``t`` must be sorted.
    Searched in overlapping time slices so years of records never build an all-time pair list."""
    firsts: list[npt.NDArray[np.int64]] = []
    seconds: list[npt.NDArray[np.int64]] = []
    xy = np.column_stack([x, y])
    if len(t):
        for s in np.arange(t[0], t[-1] + days, days):
            lo, mid, hi = (int(v) for v in np.searchsorted(t, [s, s + days, s + 2 * days]))
            if mid <= lo or hi - lo < 2:
                continue
            pairs = cKDTree(xy[lo:hi]).query_pairs(reach_m, output_type="ndarray").astype(np.int64) + lo
            if len(pairs) == 0:
                continue
            i, j = pairs.min(1), pairs.max(1)
            lag = t[j] - t[i]
            keep = (i < mid) & (lag > 0) & (lag < days)
            firsts.append(i[keep])
            seconds.append(j[keep])
    if not firsts:
        empty = np.zeros(0, np.int64)
        return empty, empty
    return np.concatenate(firsts), np.concatenate(seconds)


def _impulse_peak(grid: Grid, sigma_m: float) -> float:
    """Share of a point's smoothed mass left in its own cell (to leave an incident out of the
    background density at its own place)."""
    sigma_cells = sigma_m / grid.cell_m
    half = int(np.ceil(3 * sigma_cells)) + 1
    impulse = np.zeros((2 * half + 1, 2 * half + 1))
    impulse[half, half] = 1.0
    return float(ndimage.gaussian_filter(impulse, sigma_cells, mode="constant", truncate=3.0)[half, half])


def fit_etas(
    x: FloatArray, y: FloatArray, t: FloatArray, start: float, end: float, grid: Grid,
    background_sigma_m: float, start_fit: EtasFit | None = None,
) -> EtasFit:
    """Fit by EM on incidents in [start, end). ``start_fit`` (a previous period's fit) is a warm start."""
    n = len(t)
    span = max(end - start, 1.0)
    cell_area = grid.cell_m**2
    floor_sigma = grid.cell_m / 3.0
    reach = max(4.0 * grid.cell_m, 3.0 * background_sigma_m)
    cells = grid.cell_of(x, y)
    inside = cells >= 0
    if n < 10:
        counts = grid.counts(x, y)
        bg = grid.smooth(counts, background_sigma_m) + 1e-12
        return EtasFit(n / span, 0.0, 1.0, floor_sigma, bg / bg.sum(), 0, float("nan"), PAIR_DAYS)
    pi, pj = pairs_within(x, y, t, reach, PAIR_DAYS)
    lag = t[pj] - t[pi]
    pair_days = PAIR_DAYS
    if len(lag) > MAX_PAIRS:
        pair_days = float(np.quantile(lag, MAX_PAIRS / len(lag)))
        keep = lag < pair_days
        pi, pj, lag = pi[keep], pj[keep], lag[keep]
    dist2 = (x[pj] - x[pi]) ** 2 + (y[pj] - y[pi]) ** 2
    if start_fit is not None:
        theta, omega, sigma = start_fit.theta, start_fit.omega, start_fit.sigma_m
    else:
        theta, omega, sigma = 0.1, 0.2, max(grid.cell_m, floor_sigma)
    p_background = np.ones(n)
    peak = _impulse_peak(grid, background_sigma_m)
    b = n / span
    log_lik = -np.inf
    iterations = 0
    for iterations in range(1, MAX_ITERATIONS + 1):  # noqa: B007
        # background density from background-weighted incidents, each left out at its own place
        weights = np.where(inside, p_background, 0.0)
        smooth = grid.smooth(grid.counts(x, y, p_background), background_sigma_m).ravel()
        total = max(weights.sum(), 1e-12)
        share = np.where(inside, smooth[np.clip(cells, 0, None)] - p_background * peak, 0.0) / total
        share = np.maximum(share, 1e-9)
        mu = b * share / cell_area
        trig = theta * omega * np.exp(-omega * lag) * np.exp(-dist2 / (2 * sigma**2)) / (2 * np.pi * sigma**2)
        lam = mu + np.bincount(pj, weights=trig, minlength=n)
        # E-step
        p_background = mu / lam
        p_pair = trig / lam[pj]
        # M-step
        triggered = p_pair.sum()
        b = float(p_background.sum() / span)
        exposure = float(np.sum(1.0 - np.exp(-omega * np.minimum(end - t, pair_days))))
        theta = float(min(triggered / max(exposure, 1e-12), 0.95))
        omega = float(np.clip(triggered / max(float((p_pair * lag).sum()), 1e-12), 1.0 / pair_days, 24.0))
        sigma = float(max(np.sqrt((p_pair * dist2).sum() / max(2.0 * triggered, 1e-12)), floor_sigma))
        new_log_lik = float(np.log(lam).sum() - b * span - theta * exposure)
        if abs(new_log_lik - log_lik) < TOLERANCE * n:
            log_lik = new_log_lik
            break
        log_lik = new_log_lik
    background = grid.smooth(grid.counts(x, y, p_background), background_sigma_m) + 1e-12
    return EtasFit(b, theta, omega, sigma, background / background.sum(), iterations, log_lik, pair_days)


def predict_etas(fit: EtasFit, x: FloatArray, y: FloatArray, t: FloatArray, origin: float, horizon_days: float,
                 grid: Grid) -> FloatArray:
    """Expected incidents per cell in [origin, origin + horizon): background plus what the
    incidents before ``origin`` are expected to trigger in that window."""
    age = origin - t
    recent = age < fit.pair_days
    mass = fit.theta * (np.exp(-fit.omega * age[recent]) - np.exp(-fit.omega * (age[recent] + horizon_days)))
    triggered = grid.smooth(grid.counts(x[recent], y[recent], mass), fit.sigma_m)
    return fit.b * horizon_days * fit.background + triggered
