"""Charts of the drill: the fitted call profile, and the figures of one drill (PNG, matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from jingwu.sim.profile import WEEKDAYS, WeeklyProfile

PRIORITY_COLOURS = {"1": "#c0392b", "2": "#e67e22", "3": "#2980b9", "4": "#7f8c8d"}


def profile_chart(profile: WeeklyProfile, path: Path) -> None:
    """Heat map of the 7 × 24 table, with the hour-of-day and weekday shapes beside it."""
    table = np.array(profile.relative)
    fig = plt.figure(figsize=(12, 6.5))
    grid = fig.add_gridspec(2, 2, width_ratios=[3, 1], height_ratios=[2, 1.2], hspace=0.35, wspace=0.25)
    ax = fig.add_subplot(grid[0, 0])
    im = ax.imshow(table, aspect="auto", cmap="magma", origin="upper")
    ax.set_yticks(range(7), WEEKDAYS)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    ax.set_xlabel("local hour")
    ax.set_title("Relative call intensity (mean of all 168 hours = 1)")
    fig.colorbar(im, ax=ax, fraction=0.04)
    for d in range(7):
        for h in range(0, 24, 3):
            ax.text(h, d, f"{table[d, h]:.2f}", ha="center", va="center", fontsize=6,
                    color="white" if table[d, h] < 1.1 else "black")
    ax2 = fig.add_subplot(grid[1, 0])
    for d, name in enumerate(WEEKDAYS):
        ax2.plot(range(24), table[d], label=name, lw=1.8 if d >= 4 else 1.0)
    ax2.plot(range(24), table.mean(axis=0), "k--", lw=2, label="mean")
    ax2.set_xticks(range(0, 24, 2))
    ax2.set_xlabel("local hour")
    ax2.set_ylabel("relative intensity")
    ax2.legend(ncol=4, fontsize=7)
    ax2.grid(alpha=0.3)
    ax3 = fig.add_subplot(grid[0, 1])
    ax3.barh(range(7), table.mean(axis=1), color="#34495e")
    ax3.set_yticks(range(7), WEEKDAYS)
    ax3.invert_yaxis()
    ax3.axvline(1.0, color="k", lw=0.8)
    ax3.set_title("by weekday")
    ax4 = fig.add_subplot(grid[1, 1])
    ax4.axis("off")
    meta = profile.meta
    period = " to ".join(meta.get("period", []))
    ax4.text(0, 1, "\n".join([
        "Fitted on:", f"{meta.get('source', '')}", f"{meta.get('records', '?'):,} records", period,
        f"peak/trough hour ratio {table.mean(axis=0).max() / table.mean(axis=0).min():.1f}",
    ]), va="top", fontsize=8, wrap=True)
    fig.suptitle("jingwu drill: when calls come (weekday × hour profile)")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def report_chart(report: dict[str, Any], path: Path) -> None:
    """Four panels: calls and busy units by hour, response times by priority against target,
    queue waits by priority, utilisation by unit kind and station."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    sc = report["scenario"]
    fig.suptitle(f"jingwu drill — {sc.get('jurisdiction', '')}: {report['calls']:,} calls in {sc['hours']:g} h from "
                 f"{sc['start']}, {sc.get('units_on_duty', '?')} units, seed {sc['seed']}, {sc['travel']} travel")
    hourly = report.get("hourly", [])
    ax = axes[0, 0]
    hours = [h["hour"] for h in hourly]
    ax.bar(hours, [h["calls"] for h in hourly], color="#95a5a6", label="calls received")
    ax.set_xlabel("hour of the drill")
    ax.set_ylabel("calls per hour")
    ax_r = ax.twinx()
    ax_r.plot(hours, [h["busy_units"] for h in hourly], color="#c0392b", lw=2, label="units busy (mean)")
    ax_r.axhline(sc.get("units_on_duty", 0), color="#c0392b", ls=":", lw=1)
    ax_r.set_ylabel("units busy")
    ax_r.set_ylim(0, max(1, sc.get("units_on_duty", 1)) * 1.1)
    ax.set_title("Calls and busy units by hour")
    handles = ax.get_legend_handles_labels()[0] + ax_r.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=8, loc="upper left")

    ax = axes[0, 1]
    rt = report["response_time_s"]
    prios = [p for p in ("1", "2", "3", "4") if rt[p]["n"]]
    x = np.arange(len(prios))
    ax.bar(x - 0.2, [rt[p]["p50"] / 60 for p in prios], 0.4, label="p50", color="#2980b9")
    ax.bar(x + 0.2, [rt[p]["p90"] / 60 for p in prios], 0.4, label="p90", color="#e67e22")
    for i, p in enumerate(prios):
        ax.hlines(rt[p]["target_s"] / 60, i - 0.45, i + 0.45, colors="k", linestyles="--", lw=1.2)
        ax.text(i, rt[p]["p90"] / 60, f"{100 * (rt[p]['met_share'] or 0):.0f}% on target", ha="center",
                va="bottom", fontsize=8)
    ax.set_xticks(x, [f"P{p} (n={rt[p]['n']})" for p in prios])
    ax.set_ylabel("minutes from call to first unit on scene")
    ax.set_title("Response time by priority (dashed: target)")
    ax.legend(fontsize=8)

    ax = axes[1, 0]
    qw = report["queue_wait_s"]
    ax.bar(x - 0.2, [(qw[p]["mean"] or 0) / 60 for p in prios], 0.4, label="mean", color="#16a085")
    ax.bar(x + 0.2, [(qw[p]["p90"] or 0) / 60 for p in prios], 0.4, label="p90", color="#8e44ad")
    for i, p in enumerate(prios):
        ax.text(i, (qw[p]["p90"] or 0) / 60, f"{100 * (qw[p]['waited_share'] or 0):.0f}% waited", ha="center",
                va="bottom", fontsize=8)
    ax.set_xticks(x, [f"P{p}" for p in prios])
    ax.set_ylabel("minutes waiting for a free unit")
    ax.set_title(f"Queue wait by priority (longest queue {report['max_queue']})")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    util = report["utilisation"]
    labels, values, colours = [], [], []
    for name, row in util.get("by_kind", {}).items():
        labels.append(f"{name} ({row['units']})")
        values.append(row["utilisation"])
        colours.append("#2c3e50")
    for name, row in util.get("by_station", {}).items():
        labels.append(f"{name} ({row['units']})")
        values.append(row["utilisation"])
        colours.append("#7f8c8d")
    y = np.arange(len(labels))
    ax.barh(y, [100 * v for v in values], color=colours)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(100 * (util.get("overall") or 0), color="#c0392b", ls="--", lw=1.5,
               label=f"all units {100 * (util.get('overall') or 0):.0f}%")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the window assigned to incidents")
    ax.set_title("Utilisation by unit kind (dark) and station (grey)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=100)
    plt.close(fig)
