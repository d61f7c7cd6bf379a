"""The road network as flat arrays: nodes, directed edges with travel times, and CSR adjacency.

Arrays (not objects per node) keep a province-scale graph of millions of edges in tens of MB, load
from an ``.npz`` cache in milliseconds, and feed scipy's compiled shortest-path search directly.
Only the largest strongly connected component is kept: a node outside it either cannot be reached
from most of the network or cannot leave it, and a unit snapped there would get no ETA at all.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from jingwu.geo.osm_reader import NamedPlace, OsmRoads, read_roads

CACHE_VERSION = 2
"""Bump when reading or building changes what a file turns into, so old caches are not trusted."""

ROAD_CLASSES: tuple[str, ...] = (
    "motorway", "trunk", "primary", "secondary", "tertiary", "unclassified",
    "residential", "living_street", "service", "road",
)  # fmt: skip
"""Road classes in the order their ids are stored; ``*_link`` ways take their parent's class."""

DEFAULT_SPEEDS_KMH: Mapping[str, float] = {
    "motorway": 100, "trunk": 80, "primary": 60, "secondary": 50, "tertiary": 40,
    "unclassified": 35, "residential": 25, "living_street": 10, "service": 15, "road": 30,
}  # fmt: skip
"""Speeds when a way has no usable ``maxspeed``: typical urban/mountain driving, not the legal limit."""

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class RoadSettings:
    """How travel times are derived; part of the cache key, so changing one rebuilds the graph."""

    junction_penalty_s: float = 3.0
    """Added to every edge entering a junction (3+ neighbours): slowing, turning, yielding."""
    link_speed_factor: float = 0.7
    """``*_link`` ramps without a ``maxspeed`` drive at this fraction of their class's default."""
    default_speeds_kmh: tuple[tuple[str, float], ...] = tuple(DEFAULT_SPEEDS_KMH.items())

    def speed_for(self, road_class: str) -> float:
        return dict(self.default_speeds_kmh).get(road_class, 30.0)


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What the import did, for the operator: sizes, what was dropped, and how long it took."""

    source: str
    sha256: str
    nodes: int
    edges: int
    dropped_components: int
    dropped_nodes: int
    build_s: float
    from_cache: bool = False
    load_s: float = 0.0


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A directed road graph. Edge ``e`` runs ``tail[e] -> head[e]``; travel time is
    ``seconds[e] * traffic_factor[road_class[e]] + penalty_s[e]``."""

    lat: np.ndarray
    lon: np.ndarray
    tail: np.ndarray
    head: np.ndarray
    metres: np.ndarray
    seconds: np.ndarray
    penalty_s: np.ndarray
    road_class: np.ndarray
    name_id: np.ndarray
    names: tuple[str, ...]
    places: tuple[NamedPlace, ...]
    fwd_indptr: np.ndarray
    fwd_edges: np.ndarray
    rev_indptr: np.ndarray
    rev_edges: np.ndarray
    report: BuildReport
    _weights: dict = field(default_factory=dict, repr=False)

    @property
    def n_nodes(self) -> int:
        return int(self.lat.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.tail.shape[0])

    def weights(self, class_factors: Sequence[float] | None = None) -> np.ndarray:
        """Edge travel seconds under per-class traffic factors (memoised per factor vector)."""
        key = tuple(round(float(f), 4) for f in class_factors) if class_factors is not None else None
        cached = self._weights.get(key)
        if cached is None:
            if key is None:
                cached = self.seconds + self.penalty_s
            else:
                factors = np.asarray(key, dtype=np.float64)
                cached = self.seconds * factors[self.road_class] + self.penalty_s
            if len(self._weights) > 8:
                self._weights.clear()
            self._weights[key] = cached
        return cached

    def edge_between(self, u: int, v: int) -> int:
        """Id of the edge ``u -> v``, or -1."""
        for e in self.fwd_edges[self.fwd_indptr[u] : self.fwd_indptr[u + 1]]:
            if self.head[e] == v:
                return int(e)
        return -1

    def reverse_edges(self) -> np.ndarray:
        """For each edge ``u -> v`` the id of ``v -> u``, or -1 (used by snapping)."""
        key = self.tail.astype(np.int64) * self.n_nodes + self.head
        back = self.head.astype(np.int64) * self.n_nodes + self.tail
        order = np.argsort(key)
        pos = np.searchsorted(key[order], back)
        pos = np.minimum(pos, len(order) - 1)
        found = key[order][pos] == back
        return np.where(found, order[pos], -1).astype(np.int64)


def haversine_arrays(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(lon2 - lon1)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))


def metres_per_degree(network: RoadNetwork) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at the network's mean latitude: the flat
    projection that snapping, the search's grid and drawing routes work in (a city or province is
    small enough for it)."""
    lat0 = float(network.lat.mean()) if network.n_nodes else 0.0
    return EARTH_RADIUS_M * math.cos(math.radians(lat0)) * math.pi / 180, EARTH_RADIUS_M * math.pi / 180


def haversine_one(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """``haversine_arrays`` of one pair, bit for bit, without the cost of arrays (the one-point snap,
    the one-unit travel question): radians are one multiplication in math and numpy alike, ``** 2``
    on an array is a product, sqrt is correctly rounded in both; sin, cos and arcsin are numpy's
    own, whose plain-Python twins may round differently."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    s1 = float(np.sin((p2 - p1) / 2))
    s2 = float(np.sin(dl / 2))
    h = s1 * s1 + float(np.cos(p1)) * float(np.cos(p2)) * (s2 * s2)
    root = math.sqrt(h)
    return 2 * EARTH_RADIUS_M * float(np.arcsin(1.0 if root > 1.0 else root))


def class_id(highway: str) -> int:
    base = highway.removesuffix("_link")
    return ROAD_CLASSES.index(base) if base in ROAD_CLASSES else ROAD_CLASSES.index("road")


def network_from_osm(roads: OsmRoads, settings: RoadSettings, source: str = "", sha256: str = "") -> RoadNetwork:
    """Turn read ways into directed edges (one-way rules, speeds) and build the network."""
    started = time.perf_counter()
    index: dict[int, int] = {}
    tails: list[int] = []
    heads: list[int] = []
    speeds: list[float] = []
    classes: list[int] = []
    name_ids: list[int] = []
    names: dict[str, int] = {}
    for way in roads.ways:
        ids = [index.setdefault(ref, len(index)) for ref in way.nodes]
        cls = class_id(way.highway)
        speed = way.maxspeed_kmh or settings.speed_for(ROAD_CLASSES[cls]) * (
            settings.link_speed_factor if way.highway.endswith("_link") else 1.0
        )
        nid = names.setdefault(way.name, len(names)) if way.name else -1
        pairs = list(itertools.pairwise(ids))
        directed = []
        if way.oneway >= 0:
            directed += pairs
        if way.oneway <= 0:
            directed += [(v, u) for u, v in pairs]
        for u, v in directed:
            tails.append(u)
            heads.append(v)
            speeds.append(speed)
            classes.append(cls)
            name_ids.append(nid)
    coords = np.empty((len(index), 2))
    for ref, i in index.items():
        coords[i] = roads.coords[ref]
    tail = np.asarray(tails, dtype=np.int64)
    head = np.asarray(heads, dtype=np.int64)
    metres = haversine_arrays(coords[tail, 0], coords[tail, 1], coords[head, 0], coords[head, 1])
    seconds = metres / (np.asarray(speeds) / 3.6)
    return build_network(
        coords[:, 0], coords[:, 1], tail, head, metres, seconds,
        np.asarray(classes, dtype=np.int8), np.asarray(name_ids, dtype=np.int32),
        tuple(names), tuple(roads.places), settings, source=source, sha256=sha256, started=started,
    )  # fmt: skip


def build_network(
    lat: np.ndarray,
    lon: np.ndarray,
    tail: np.ndarray,
    head: np.ndarray,
    metres: np.ndarray,
    seconds: np.ndarray,
    road_class: np.ndarray,
    name_id: np.ndarray,
    names: tuple[str, ...],
    places: tuple[NamedPlace, ...],
    settings: RoadSettings,
    *,
    source: str = "",
    sha256: str = "",
    started: float | None = None,
) -> RoadNetwork:
    """Drop self-loops and slower parallel edges, add junction penalties, keep the largest SCC."""
    started = time.perf_counter() if started is None else started
    n = len(lat)
    seconds = np.maximum(seconds, 1e-3)  # scipy treats explicit zeros as missing edges
    keep = tail != head
    # parallel edges: keep the fastest of each (tail, head)
    key = tail.astype(np.int64) * n + head
    order = np.lexsort((seconds, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    chosen = np.zeros(len(key), dtype=bool)
    chosen[order[first]] = True
    keep &= chosen
    tail, head, metres, seconds = tail[keep], head[keep], metres[keep], seconds[keep]
    road_class, name_id = road_class[keep], name_id[keep]

    graph = csr_matrix((np.ones(len(tail)), (tail, head)), shape=(n, n))
    n_comp, labels = connected_components(graph, directed=True, connection="strong")
    biggest = np.bincount(labels).argmax()
    in_main = labels == biggest
    remap = np.full(n, -1, dtype=np.int64)
    remap[in_main] = np.arange(int(in_main.sum()))
    ekeep = in_main[tail] & in_main[head]
    tail, head = remap[tail[ekeep]], remap[head[ekeep]]
    metres, seconds = metres[ekeep], seconds[ekeep]
    road_class, name_id = road_class[ekeep], name_id[ekeep]
    lat, lon = lat[in_main], lon[in_main]
    n = len(lat)

    # junctions: nodes with three or more distinct neighbours
    und = np.unique(np.minimum(tail, head) * n + np.maximum(tail, head))
    degree = np.bincount(und // n, minlength=n) + np.bincount(und % n, minlength=n)
    penalty = np.where(degree[head] >= 3, settings.junction_penalty_s, 0.0)

    report = BuildReport(
        source=source,
        sha256=sha256,
        nodes=n,
        edges=len(tail),
        dropped_components=int(n_comp - 1),
        dropped_nodes=int((~in_main).sum()),
        build_s=round(time.perf_counter() - started, 3),
    )
    return network_of(lat, lon, tail, head, metres, seconds, report, penalty_s=penalty, road_class=road_class,
                      name_id=name_id, names=names, places=places)


def network_of(
    lat: np.ndarray, lon: np.ndarray, tail: np.ndarray, head: np.ndarray, metres: np.ndarray, seconds: np.ndarray,
    report: BuildReport, *, penalty_s: np.ndarray | None = None, road_class: np.ndarray | None = None,
    name_id: np.ndarray | None = None, names: tuple[str, ...] = (), places: tuple[NamedPlace, ...] = (),
) -> RoadNetwork:
    """A network of these nodes and directed edges as they are (no cleaning: ``network_from_osm``
    does that first), with its adjacency in both directions derived here. Unset: no junction
    penalties, road class 0, no street names (hand-made networks in tests)."""
    n, m = len(lat), len(tail)
    fwd_indptr, fwd_edges = _csr(tail, n)
    rev_indptr, rev_edges = _csr(head, n)
    return RoadNetwork(
        lat=np.ascontiguousarray(lat, dtype=np.float64),
        lon=np.ascontiguousarray(lon, dtype=np.float64),
        tail=tail.astype(np.int32),
        head=head.astype(np.int32),
        metres=metres.astype(np.float64),
        seconds=seconds.astype(np.float64),
        penalty_s=(penalty_s if penalty_s is not None else np.zeros(m)).astype(np.float64),
        road_class=(road_class if road_class is not None else np.zeros(m)).astype(np.int8),
        name_id=(name_id if name_id is not None else np.full(m, -1)).astype(np.int32),
        names=names,
        places=places,
        fwd_indptr=fwd_indptr,
        fwd_edges=fwd_edges,
        rev_indptr=rev_indptr,
        rev_edges=rev_edges,
        report=report,
    )


def _csr(rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    edges = np.argsort(rows, kind="stable").astype(np.int32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, edges


# --- cache ------------------------------------------------------------------------------------

_ARRAYS: tuple[str, ...] = ("lat", "lon", "tail", "head", "metres", "seconds", "penalty_s", "road_class", "name_id")
_ARRAYS += ("fwd_indptr", "fwd_edges", "rev_indptr", "rev_edges")


UNREADABLE_CACHE: tuple[type[Exception], ...] = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)
"""What ``np.load`` of a torn or stale cache file raises (a file cut short while written is a zip
with no directory): such a cache is rebuilt, never trusted."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(sha256: str, settings: RoadSettings) -> str:
    text = json.dumps([CACHE_VERSION, sha256, asdict(settings)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def save_network(network: RoadNetwork, target: Path) -> None:
    """Write the network as an uncompressed ``.npz`` (compression would cost more than it saves)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "names": list(network.names),
        "places": [asdict(p) for p in network.places],
        "report": asdict(network.report),
    }
    tmp = target.with_suffix(".tmp.npz")
    arrays = {name: getattr(network, name) for name in _ARRAYS}
    np.savez(tmp, meta=np.array(json.dumps(meta, ensure_ascii=False)), **arrays)  # type: ignore[arg-type]
    tmp.replace(target)


def read_network(source: Path) -> RoadNetwork:
    started = time.perf_counter()
    with np.load(source, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        arrays = {name: data[name] for name in _ARRAYS}
    report = replace(BuildReport(**meta["report"]), from_cache=True, load_s=round(time.perf_counter() - started, 4))
    places = tuple(NamedPlace(**p) for p in meta["places"])
    return RoadNetwork(names=tuple(meta["names"]), places=places, report=report, **arrays)


def load_road_network(path: Path, cache_dir: Path | None = None, settings: RoadSettings | None = None) -> RoadNetwork:
    """Load a road network from an OSM/GraphML file, through a cache keyed on the file's sha256.

    The first load parses and builds (about a second for Andorra); later loads read the ``.npz``.
    """
    settings = settings or RoadSettings()
    path = Path(path)
    sha = file_sha256(path)
    cached = None
    if cache_dir is not None:
        cached = Path(cache_dir) / f"roads-{path.name.split('.')[0]}-{cache_key(sha, settings)}.npz"
        if cached.exists():
            try:
                return read_network(cached)
            except UNREADABLE_CACHE:
                cached.unlink(missing_ok=True)  # a torn or stale cache is rebuilt, never trusted
    started = time.perf_counter()
    network = network_from_osm(read_roads(path), settings, source=str(path), sha256=sha)
    network = replace(network, report=replace(network.report, build_s=round(time.perf_counter() - started, 3)))
    if cached is not None:
        save_network(network, cached)
    return network


def shipped_andorra() -> Path:
    """The demo network that ships with jingwu (© OpenStreetMap contributors, ODbL 1.0)."""
    return Path(__file__).resolve().parent.parent / "data" / "andorra.osm.pbf"
