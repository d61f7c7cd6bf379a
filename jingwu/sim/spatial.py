"""Where calls come from: intensity surfaces over the road network, built from OpenStreetMap.

Calls are placed on roads (an address, a junction, a car park entrance) inside the service area,
with a weight per metre of road built from what the extract says about people and traffic:

* **road density**: metres of road within 300 m (towns have dense grids, valleys single roads);
* **points of interest**: bars, restaurants, shops, hotels, schools, car parks… each with a
  weight for how many calls such a place draws, spread by a 250 m kernel;
* **settlements**: town / village / hamlet nodes, spread by a kernel sized to the settlement;
* **land use**: residential and commercial polygons raise the weight, forest and meadow lower it.

Three surfaces mix these differently: ``people`` (most calls), ``traffic`` (collisions and road
hazards, along the main roads of busy areas) and ``remote`` (missing persons, landslides: mountain
roads far from towns). Each component is scaled to a length-weighted mean of 1 before mixing, so
the coefficients in ``jingwu/data/drill_spatial.json`` read as relative importance.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import osmium
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import shape
from shapely.ops import unary_union

from jingwu.domain.geography import GeoPoint
from jingwu.domain.org import OrgTree
from jingwu.geo.roads import ROAD_CLASSES, UNREADABLE_CACHE, RoadNetwork, file_sha256

M_PER_DEG_LAT = 111_320.0
POI_KEYS = ("amenity", "shop", "tourism", "leisure", "office", "public_transport", "railway")


def load_spatial_settings(path: Path | None = None) -> dict[str, Any]:
    if path is None:
        text = resources.files("jingwu.data").joinpath("drill_spatial.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass
class OsmContext:
    """Points of interest (lon, lat, weight), settlements (lon, lat, weight, radius) and land use."""

    pois: np.ndarray
    places: np.ndarray
    landuse: list[tuple[str, Any]]


class _ContextReader(osmium.SimpleHandler):
    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__()
        self.poi_weights: dict[str, float] = settings["poi_weights"]
        self.default_poi = float(settings.get("default_poi_weight", 0.3))
        self.place_kinds: dict[str, list[float]] = settings["places"]
        self.landuse_kinds = set(settings["landuse_factors"])
        self.pois: list[tuple[float, float, float]] = []
        self.places: list[tuple[float, float, float, float]] = []
        self.landuse: list[tuple[str, Any]] = []
        self._wkb = osmium.geom.WKBFactory()

    def _poi_weight(self, tags: Any) -> float | None:
        for key in POI_KEYS:
            value = tags.get(key)
            if value:
                return float(self.poi_weights.get(f"{key}={value}", self.poi_weights.get(key, self.default_poi)))
        return None

    def node(self, n: Any) -> None:
        if not n.location.valid():
            return
        w = self._poi_weight(n.tags)
        if w:
            self.pois.append((n.location.lon, n.location.lat, w))
        place = n.tags.get("place")
        if place in self.place_kinds:
            weight, radius = self.place_kinds[place]
            self.places.append((n.location.lon, n.location.lat, float(weight), float(radius)))

    def area(self, a: Any) -> None:
        landuse = a.tags.get("landuse")
        w = self._poi_weight(a.tags)
        if landuse not in self.landuse_kinds and not w:
            return
        try:
            geom = shapely.from_wkb(bytes.fromhex(self._wkb.create_multipolygon(a)))
        except RuntimeError:
            return
        if landuse in self.landuse_kinds:
            self.landuse.append((landuse, geom))
        if w:
            c = geom.representative_point()
            self.pois.append((c.x, c.y, w))


def read_osm_context(path: Path, settings: dict[str, Any]) -> OsmContext:
    reader = _ContextReader(settings)
    reader.apply_file(str(path), locations=True)
    return OsmContext(
        pois=np.array(reader.pois, dtype=float).reshape(-1, 3),
        places=np.array(reader.places, dtype=float).reshape(-1, 4),
        landuse=reader.landuse,
    )


@dataclass(frozen=True)
class RoadPieces:
    """One entry per street piece (a two-way street counts once): its ends, length and class."""

    lat0: np.ndarray
    lon0: np.ndarray
    lat1: np.ndarray
    lon1: np.ndarray
    metres: np.ndarray
    road_class: np.ndarray

    @classmethod
    def from_network(cls, net: RoadNetwork) -> RoadPieces:
        twin = net.reverse_edges()
        keep = (twin < 0) | (np.arange(net.n_edges) < twin)
        t, h = net.tail[keep], net.head[keep]
        return cls(net.lat[t], net.lon[t], net.lat[h], net.lon[h], net.metres[keep].astype(float),
                   net.road_class[keep].astype(int))

    def midpoints(self) -> tuple[np.ndarray, np.ndarray]:
        return (self.lat0 + self.lat1) / 2, (self.lon0 + self.lon1) / 2


def _local_xy(lat: np.ndarray, lon: np.ndarray, lat0: float) -> np.ndarray:
    return np.column_stack([lon * M_PER_DEG_LAT * np.cos(np.radians(lat0)), lat * M_PER_DEG_LAT])


def _mean_one(values: np.ndarray, metres: np.ndarray) -> np.ndarray:
    mean = float(np.average(values, weights=metres)) if metres.sum() > 0 else 0.0
    return values / mean if mean > 0 else np.zeros_like(values)


def _kernel_sum(xy: np.ndarray, centres: np.ndarray, weights: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Sum over centres of weight * exp(-d^2 / 2r^2), cut at 3r."""
    out = np.zeros(len(xy))
    if len(centres) == 0:
        return out
    tree = cKDTree(xy)
    for (cx, cy), w, r in zip(centres, weights, radii, strict=True):
        idx = tree.query_ball_point((cx, cy), 3 * r)
        if idx:
            d2 = ((xy[idx] - (cx, cy)) ** 2).sum(axis=1)
            out[idx] += w * np.exp(-d2 / (2 * r * r))
    return out


@dataclass(frozen=True)
class Components:
    """Per road piece: density, POI and settlement kernels (each mean 1), land-use factor."""

    density: np.ndarray
    poi: np.ndarray
    place: np.ndarray
    landuse: np.ndarray


def components(pieces: RoadPieces, ctx: OsmContext, settings: dict[str, Any]) -> Components:
    lat, lon = pieces.midpoints()
    lat0 = float(np.mean(lat)) if len(lat) else 0.0
    xy = _local_xy(lat, lon, lat0)
    tree = cKDTree(xy)
    radius = float(settings.get("density_radius_m", 300))
    near = tree.query_ball_point(xy, radius)
    density = np.array([pieces.metres[i].sum() for i in near])
    poi_r = float(settings.get("poi_radius_m", 250))
    pois = ctx.pois
    poi = _kernel_sum(xy, _local_xy(pois[:, 1], pois[:, 0], lat0), pois[:, 2], np.full(len(pois), poi_r))
    pl = ctx.places
    place = _kernel_sum(xy, _local_xy(pl[:, 1], pl[:, 0], lat0), pl[:, 2], pl[:, 3])
    landuse = np.ones(len(lat))
    factors: dict[str, float] = settings["landuse_factors"]
    # Strongest factor wins where polygons overlap (a commercial block inside a residential area).
    for kind in sorted({k for k, _ in ctx.landuse}, key=lambda k: factors[k]):
        geom = unary_union([g for k, g in ctx.landuse if k == kind])
        inside = shapely.contains_xy(geom, lon, lat)
        landuse[inside] = factors[kind]
    m = pieces.metres
    return Components(_mean_one(density, m), _mean_one(poi, m), _mean_one(place, m), landuse)


def _class_factor(pieces: RoadPieces, table: dict[str, float]) -> np.ndarray:
    per_class = np.array([float(table.get(c, 1.0)) for c in ROAD_CLASSES])
    return per_class[pieces.road_class]


def surface_weights(pieces: RoadPieces, comp: Components, settings: dict[str, Any]) -> dict[str, np.ndarray]:
    """Weight of each road piece (length × intensity per metre) for each surface."""
    s = settings["surfaces"]
    m = pieces.metres
    p = s["people"]
    people = _class_factor(pieces, p["road_class"]) * comp.landuse * (
        p["base"] + p["density"] * comp.density + p["poi"] * comp.poi + p["place"] * comp.place)
    t = s["traffic"]
    traffic = _class_factor(pieces, t["road_class"]) * (
        t["base"] + t["density"] * comp.density + t["poi"] * comp.poi + t["place"] * comp.place)
    r = s["remote"]
    remote = _class_factor(pieces, r["road_class"]) / (r["base"] + comp.density + comp.place)
    return {"people": m * people, "traffic": m * traffic, "remote": m * remote}


class CallSurfaces:
    """Samples call locations on roads inside the service area, by surface."""

    def __init__(self, pieces: RoadPieces, weights: dict[str, np.ndarray], org: OrgTree) -> None:
        self.pieces = pieces
        self.org = org
        areas = [shape(u.area.to_geojson()) for u in org.stations() if u.area is not None]
        if not areas:
            raise ValueError("the organisation has no station areas to place calls in")
        served = unary_union(areas)
        lat, lon = pieces.midpoints()
        inside = shapely.contains_xy(served, lon, lat)
        if not inside.any():
            raise ValueError("no road of the OSM extract lies inside the service area")
        self.eligible = inside
        self._cum: dict[str, np.ndarray] = {}
        for name, w in weights.items():
            w = np.where(inside, np.maximum(w, 0.0), 0.0)
            if w.sum() <= 0:
                w = np.where(inside, pieces.metres, 0.0)
            self._cum[name] = np.cumsum(w) / w.sum()

    @property
    def names(self) -> list[str]:
        return sorted(self._cum)

    def share(self, surface: str, mask: np.ndarray) -> float:
        """Probability mass of the pieces in ``mask`` (for charts and tests)."""
        cum = self._cum[surface]
        pmf = np.diff(np.concatenate([[0.0], cum]))
        return float(pmf[mask].sum())

    def sample(self, rng: np.random.Generator, surface: str, tries: int = 20) -> GeoPoint:
        cum = self._cum[surface]
        pc = self.pieces
        for _ in range(tries):
            i = min(int(np.searchsorted(cum, rng.random(), side="right")), len(cum) - 1)
            f = rng.random()
            point = GeoPoint(lat=round(float(pc.lat0[i] + f * (pc.lat1[i] - pc.lat0[i])), 6),
                             lon=round(float(pc.lon0[i] + f * (pc.lon1[i] - pc.lon0[i])), 6))
            if self.org.resolve_station(point) is not None:
                return point
        raise RuntimeError(f"could not place a call inside the service area after {tries} tries")


SURFACE_CACHE_VERSION = 1
"""Bump when the surfaces' recipe changes in code (the data and settings are in the key)."""


def surface_cache_key(pieces: RoadPieces, extract_sha256: str, settings: dict[str, Any]) -> str:
    """What the weights depend on: the extract's bytes, the road pieces they are laid on and the
    settings (so a new extract, a rebuilt network or an edited ``drill_spatial.json`` each miss)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([SURFACE_CACHE_VERSION, extract_sha256, settings], sort_keys=True).encode())
    for name in ("lat0", "lon0", "lat1", "lon1", "metres", "road_class"):
        digest.update(np.ascontiguousarray(getattr(pieces, name)).tobytes())
    return digest.hexdigest()[:20]


def _extract_sha256(network: RoadNetwork, osm_file: Path) -> str:
    """The extract's sha256: the one the road network recorded when it was loaded from this very
    file (``load_road_network`` hashes it on every load), else read again."""
    report = network.report
    if report.sha256 and report.source and Path(report.source).resolve() == Path(osm_file).resolve():
        return report.sha256
    return file_sha256(osm_file)


def _read_weights(path: Path, size: int) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            weights = {name: data[name] for name in data.files}
    except UNREADABLE_CACHE:
        path.unlink(missing_ok=True)  # a torn cache is rebuilt, never trusted
        return None
    if not weights or any(w.shape != (size,) for w in weights.values()):
        path.unlink(missing_ok=True)
        return None
    return weights


def surface_weights_for(network: RoadNetwork, osm_file: Path, settings: dict[str, Any],
                        cache_dir: Path | None = None) -> tuple[RoadPieces, dict[str, np.ndarray]]:
    """The road pieces and their surface weights, through a cache in ``cache_dir`` when given.

    Reading the extract's POIs and land use and summing the kernels takes ~0.4 s on Andorra, a
    twentieth of a drill's whole day, for figures that only change with the extract or the
    settings; the cached ``.npz`` reads back in a millisecond, bit for bit."""
    pieces = RoadPieces.from_network(network)
    cached = None
    if cache_dir is not None:
        key = surface_cache_key(pieces, _extract_sha256(network, osm_file), settings)
        cached = Path(cache_dir) / f"surfaces-{key}.npz"
        if cached.exists():
            weights = _read_weights(cached, len(pieces.metres))
            if weights is not None:
                return pieces, weights
    weights = surface_weights(pieces, components(pieces, read_osm_context(osm_file, settings), settings), settings)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **weights)  # type: ignore[arg-type]
        tmp.replace(cached)
    return pieces, weights


def build_surfaces(network: RoadNetwork, osm_file: Path, org: OrgTree,
                   settings: dict[str, Any] | None = None, cache_dir: Path | None = None) -> CallSurfaces:
    pieces, weights = surface_weights_for(network, osm_file, settings or load_spatial_settings(), cache_dir)
    return CallSurfaces(pieces, weights, org)


def patrol_posts(surfaces: CallSurfaces, units: list[tuple[str, str]], seed: int,
                 tries: int = 400) -> dict[str, GeoPoint]:
    """A patrol post for each (unit id, home station): a point of the station's own area drawn from
    the ``people`` surface, so cars wait where calls come from instead of all at the station house."""
    rng = np.random.default_rng([seed, 7])
    posts: dict[str, GeoPoint] = {}
    for unit_id, station in units:
        for _ in range(tries):
            point = surfaces.sample(rng, "people")
            if surfaces.org.resolve_station(point) == station:
                posts[unit_id] = point
                break
    return posts

