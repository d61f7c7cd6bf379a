"""How good are the surge detectors on *our* series? Inject outbreaks into real count series and see.

A detector that fires every day is useless and one that never fires is dangerous; the trade-off
depends on the area's counts, so it is measured on the real series rather than assumed. Each trial
copies one real (area, family) series, adds ``magnitude_sd`` × its sd extra incidents (at least one)
on each of ``duration`` consecutive bins, and records whether and how soon each method alarms
within the outbreak. False alarms are alarms on the unmodified series, per 100 area-days (they may
include real surges; this is the conservative reading).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jingwu.analytics.surges import CUSUM_BASELINE, CUSUM_GUARD, METHODS, CountSeries, detect


@dataclass(frozen=True, slots=True)
class DetectorScore:
    method: str
    sensitivity: float
    sensitivity_ci: tuple[float, float]
    false_alarms_per_100: float
    """False alarms per 100 area-days (or area-hours on hourly series)."""
    mean_delay: float
    """Bins from outbreak start to first alarm, among detected outbreaks (0 = first bin)."""
    median_delay: float


@dataclass(frozen=True)
class SurgeEvaluation:
    scores: dict[str, DetectorScore]
    outbreaks: int
    series: int
    bins: int
    duration: int
    magnitude_sd: float


def _wilson(hits: int, n: int) -> tuple[float, float]:
    """95 % Wilson interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    z = 1.96
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def evaluate_detectors(series: CountSeries, outbreaks: int = 300, duration: int = 3, magnitude_sd: float = 2.0,
                       eval_bins: int = 730, seed: int = 1, methods: tuple[str, ...] = METHODS) -> SurgeEvaluation:
    """Sensitivity, false alarms and delay of each method over the last ``eval_bins`` bins."""
    warmup = (CUSUM_BASELINE + CUSUM_GUARD + 1) * series.season
    counts = series.counts
    total = counts.shape[1]
    eval_bins = min(eval_bins, total - warmup)
    if eval_bins < duration + 1 or counts.shape[0] == 0:
        raise ValueError("series too short to evaluate: need more than a month of counts")
    window = counts[:, total - eval_bins - warmup:]
    active = np.flatnonzero(window[:, warmup:].sum(1) > 0)
    rng = np.random.default_rng(seed)
    which = rng.choice(active, size=outbreaks)
    starts = rng.integers(warmup, warmup + eval_bins - duration + 1, size=outbreaks)
    injected = window[which].copy()
    for row, (k, s) in enumerate(zip(which, starts, strict=True)):
        extra = max(1.0, round(magnitude_sd * float(window[k, warmup:].std())))
        injected[row, s: s + duration] += extra
    scores: dict[str, DetectorScore] = {}
    for method in methods:
        _, clean_alarm, _ = detect(window[active], method, series.season)
        false_rate = 100.0 * clean_alarm[:, warmup:].sum() / (len(active) * eval_bins)
        _, alarm, _ = detect(injected, method, series.season)
        delays = []
        for row, s in enumerate(starts):
            hit = np.flatnonzero(alarm[row, s: s + duration])
            if len(hit):
                delays.append(int(hit[0]))
        found = len(delays)
        scores[method] = DetectorScore(method, found / outbreaks, _wilson(found, outbreaks), float(false_rate),
                                       float(np.mean(delays)) if delays else float("nan"),
                                       float(np.median(delays)) if delays else float("nan"))
    return SurgeEvaluation(scores, outbreaks, len(active), eval_bins, duration, magnitude_sd)
