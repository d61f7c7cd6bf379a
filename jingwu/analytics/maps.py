"""Hotspot maps as files: GeoJSON for the command map's layer, PNG for reports, a small HTML page.

One GeoJSON FeatureCollection carries both layers, told apart by the ``layer`` property:
``gi_star`` hexagons (count, z, p, ``class`` hot/cold/none) and ``density`` grid cells above the
95th percentile of the surface (incidents per km²).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import h3
import numpy as np

from jingwu.analytics.hotspots import DensitySurface, HexHotspots

DENSITY_PERCENTILE = 95.0


def _finite(value: float, digits: int) -> float | None:
    """JSON has no NaN: Gi* is undefined where every hexagon has the same count (tiny inputs)."""
    return round(float(value), digits) if np.isfinite(value) else None


def hotspot_features(surface: DensitySurface, hexes: HexHotspots) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    for i, cell in enumerate(hexes.cells.tolist()):
        ring = [[round(lon, 6), round(lat, 6)] for lat, lon in h3.cell_to_boundary(cell)]
        ring.append(ring[0])
        kind = "hot" if hexes.hot[i] else "cold" if hexes.cold[i] else "none"
        if kind == "none" and hexes.counts[i] == 0:
            continue
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"layer": "gi_star", "h3": cell, "count": int(hexes.counts[i]),
                                        "z": _finite(hexes.z[i], 3), "p": _finite(hexes.p_value[i], 4),
                                        "class": kind}})
    flat = surface.density.ravel()
    positive = flat[flat > 0]
    if len(positive):
        cut = float(np.percentile(positive, DENSITY_PERCENTILE))
        for index in np.flatnonzero(flat >= cut):
            features.append({"type": "Feature",
                             "geometry": {"type": "Polygon", "coordinates": [surface.grid.cell_polygon(int(index))]},
                             "properties": {"layer": "density", "per_km2": round(float(flat[index]), 3)}})
    return {"type": "FeatureCollection", "features": features,
            "properties": {"h3_resolution": hexes.resolution, "fdr_alpha": hexes.alpha,
                           "permutations": hexes.permutations, "kde_bandwidth_m": round(surface.bandwidth_m, 1),
                           "kde_cell_m": surface.grid.cell_m}}


def write_png(surface: DensitySurface, hexes: HexHotspots, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    grid = surface.grid
    lat_lo, lon_lo = grid.to_latlon(np.array([grid.x0]), np.array([grid.y0]))
    lat_hi, lon_hi = grid.to_latlon(np.array([grid.x0 + grid.nx * grid.cell_m]),
                                    np.array([grid.y0 + grid.ny * grid.cell_m]))
    fig, ax = plt.subplots(figsize=(8, 8 * grid.ny / max(grid.nx, 1) * np.cos(np.radians(grid.lat0)) + 0.8))
    shown = np.ma.masked_less_equal(surface.density, 0)
    image = ax.imshow(shown, origin="lower", cmap="YlOrRd",
                      extent=(float(lon_lo[0]), float(lon_hi[0]), float(lat_lo[0]), float(lat_hi[0])),
                      aspect=1 / np.cos(np.radians(grid.lat0)))
    fig.colorbar(image, ax=ax, shrink=0.7, label="incidents per km² (kernel density)")
    for i, cell in enumerate(hexes.cells.tolist()):
        if hexes.hot[i] or hexes.cold[i]:
            ring = [(lon, lat) for lat, lon in h3.cell_to_boundary(cell)]
            ax.add_patch(Polygon(ring, closed=True, fill=False, lw=0.6,
                                 edgecolor="#7b0000" if hexes.hot[i] else "#1f4e9c"))
    ax.set_title(f"{title}\nGi* hot (dark red) / cold (blue) hexagons, FDR {hexes.alpha:g}; "
                 f"KDE bandwidth {surface.bandwidth_m:.0f} m", fontsize=9)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_html(path: Path, title: str, png_name: str, rows: list[tuple[str, int, float, float]]) -> None:
    body = "".join(f"<tr><td>{html.escape(c)}</td><td>{n}</td><td>{z:.2f}</td><td>{p:.4f}</td></tr>"
                   for c, n, z, p in rows)
    path.write_text(
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><img src='{html.escape(png_name)}' style='max-width:100%'>"
        "<h2>Hot spots (Gi*, FDR-controlled)</h2><table border=1 cellpadding=3>"
        f"<tr><th>H3 cell</th><th>incidents</th><th>z</th><th>p</th></tr>{body}</table>",
        encoding="utf-8")


def write_hotspot_maps(surface: DensitySurface, hexes: HexHotspots, out_dir: Path, title: str) -> list[Path]:
    """Write hotspots.geojson, hotspots.png and hotspots.html into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    geo = out_dir / "hotspots.geojson"
    geo.write_text(json.dumps(hotspot_features(surface, hexes)), encoding="utf-8")
    png = out_dir / "hotspots.png"
    write_png(surface, hexes, png, title)
    order = np.argsort(-hexes.z)
    rows = [(str(hexes.cells[i]), int(hexes.counts[i]), float(hexes.z[i]), float(hexes.p_value[i]))
            for i in order if hexes.hot[i]][:50]
    page = out_dir / "hotspots.html"
    write_html(page, title, png.name, rows)
    return [geo, png, page]
