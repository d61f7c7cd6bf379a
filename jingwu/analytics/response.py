"""Response-time report: how long each stage took, by station, priority and hour of day, against
the agency's targets. Percentiles rather than means, because a few very late arrivals are exactly
what a station lead needs to see and a mean hides them.

Stages: answer-to-dispatch (received → dispatched), dispatch-to-arrival (dispatched → arrived) and
total (received → arrived). Records without a timestamp for a stage are left out of that stage only.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jingwu.analytics.records import IncidentRecords

STAGES = ("answer_to_dispatch", "dispatch_to_arrival", "total")
TARGET_KEYS = {"answer_to_dispatch": "dispatch_s", "dispatch_to_arrival": "travel_s", "total": "response_s"}
PERCENTILES = (50, 90)


@dataclass(frozen=True)
class ResponseReport:
    durations: pd.DataFrame
    """One row per incident: station, priority, hour, and seconds per stage (NaN if unknown)."""
    by_station: pd.DataFrame
    by_priority: pd.DataFrame
    by_hour: pd.DataFrame


def stage_durations(records: IncidentRecords) -> pd.DataFrame:
    if records.dispatched is None or records.arrived is None:
        raise ValueError("response times need dispatched and arrived time columns")
    received = records.t.astype("datetime64[s]")

    def seconds(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
        delta = (later - earlier).astype("timedelta64[s]").astype(float)
        bad = np.isnat(later) | np.isnat(earlier)
        return np.where(bad | (delta < 0), np.nan, delta)

    return pd.DataFrame({
        "station": np.where(records.station == "", "unknown", records.station),
        "priority": records.priority if records.priority is not None else np.zeros(len(records), np.int64),
        "hour": received.astype("datetime64[h]").astype(np.int64) % 24,
        "answer_to_dispatch": seconds(records.dispatched, received),
        "dispatch_to_arrival": seconds(records.arrived, records.dispatched),
        "total": seconds(records.arrived, received),
    })


def _summary(frame: pd.DataFrame, by: str, targets: dict[int, dict[str, int]]) -> pd.DataFrame:
    rows = []
    for key, group in frame.groupby(by, sort=True):
        row: dict[str, object] = {by: key, "incidents": len(group)}
        for stage in STAGES:
            values = group[stage].dropna().to_numpy()
            for p in PERCENTILES:
                row[f"{stage}_p{p}_s"] = round(float(np.percentile(values, p)), 1) if len(values) else np.nan
            limits = np.array([targets.get(int(pr), {}).get(TARGET_KEYS[stage], np.nan)
                               for pr in group.loc[group[stage].notna(), "priority"]], float)
            known = np.isfinite(limits)
            row[f"{stage}_within_target"] = (round(float(np.mean(values[known] <= limits[known])), 3)
                                             if known.any() else np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def response_report(records: IncidentRecords, targets: dict[int, dict[str, int]]) -> ResponseReport:
    """``targets``: per priority, target seconds ``dispatch_s``, ``travel_s``, ``response_s``."""
    frame = stage_durations(records)
    return ResponseReport(frame, _summary(frame, "station", targets), _summary(frame, "priority", targets),
                          _summary(frame, "hour", targets))


def write_response_report(report: ResponseReport, out_dir: Path, targets: dict[int, dict[str, int]]) -> list[Path]:
    """CSV tables, two PNG charts and an HTML page in ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in (("station", report.by_station), ("priority", report.by_priority), ("hour", report.by_hour)):
        path = out_dir / f"response_by_{name}.csv"
        table.to_csv(path, index=False)
        written.append(path)
    fig, ax = plt.subplots(figsize=(8, 4))
    for stage in STAGES:
        ax.plot(report.by_hour["hour"], report.by_hour[f"{stage}_p90_s"] / 60.0, marker="o", label=f"{stage} p90")
    ax.set_xlabel("hour of day (received)")
    ax.set_ylabel("minutes")
    ax.set_title("90th percentile response times by hour")
    ax.legend(fontsize=8)
    fig.tight_layout()
    hour_png = out_dir / "response_by_hour.png"
    fig.savefig(hour_png, dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4))
    stations = report.by_station["station"].astype(str).tolist()
    pos = np.arange(len(stations))
    ax.bar(pos - 0.2, report.by_station["total_p50_s"] / 60.0, 0.4, label="total p50")
    ax.bar(pos + 0.2, report.by_station["total_p90_s"] / 60.0, 0.4, label="total p90")
    response_targets = sorted({v["response_s"] for v in targets.values() if "response_s" in v})
    for target in response_targets[:3]:
        ax.axhline(target / 60.0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(pos, stations, rotation=45, fontsize=8)
    ax.set_ylabel("minutes (dashed: priority targets)")
    ax.set_title("Total response time by station")
    ax.legend(fontsize=8)
    fig.tight_layout()
    station_png = out_dir / "response_by_station.png"
    fig.savefig(station_png, dpi=100)
    plt.close(fig)
    page = out_dir / "response.html"
    tables = "".join(f"<h2>By {html.escape(n)}</h2>" + t.to_html(index=False, na_rep="–")
                     for n, t in (("station", report.by_station), ("priority", report.by_priority),
                                  ("hour", report.by_hour)))
    page.write_text("<!doctype html><meta charset='utf-8'><title>Response times</title><h1>Response times</h1>"
                    f"<img src='{station_png.name}'><img src='{hour_png.name}'>{tables}", encoding="utf-8")
    return [*written, hour_png, station_png, page]
