"""Geocoding from the road network's own OSM data: street names, intersections, places and POIs.

A call-taker types what the caller says: "av meritxell", "Carrer Major & Carrer Sant Salvador",
"紅荔西路與香蜜湖路交界". Matching is on a folded form of every name (traditional Chinese to
simplified with OpenCC, accents stripped, case folded, common abbreviations expanded) with
rapidfuzz, so spelling, accents, script and word order do not decide whether a street is found.
When a name is ambiguous (the same street name in two villages) each stretch is its own candidate,
labelled with the nearest village, and the caller is asked which.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz, process
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from jingwu.domain.geography import GeoPoint, haversine_m
from jingwu.domain.places import PlaceCandidate, ReversePlace
from jingwu.geo.roads import RoadNetwork
from jingwu.geo.snapping import RoadSnapper, SnappedPoint

ABBREVIATIONS = {
    "av": "avinguda", "avda": "avinguda", "avgda": "avinguda", "avenida": "avinguda", "avenue": "avinguda",
    "c": "carrer", "cl": "carrer", "calle": "carrer", "ctra": "carretera", "cra": "carretera",
    "pl": "placa", "pca": "placa", "urb": "urbanitzacio", "dr": "doctor", "st": "sant", "sta": "santa",
}  # fmt: skip
"""Catalan/Spanish street abbreviations as typed in Andorra, expanded on both sides of a match."""

SEPARATORS = re.compile(r"\s*(?:&|＆|/|／|\+|@|\band\b|\by\b|\bi\b|\bet\b|\bx\b|\bat\b|与|與|和|及|跟|交)\s*")
JUNCTION_SUFFIX = re.compile(r"(?:十字路口|交叉口|交叉路口|交汇处|交匯處|交界处|交界處|交界|路口|附近|一带)$")
HOUSE_NUMBER = re.compile(r"(?:\b(?:n|no|num|numero|nº)\.?\s*)?\b\d+[a-z]?\b|\d+号")
CJK = re.compile(r"[\u3400-\u9fff]")
TOWN_KINDS = frozenset({"city", "town", "village", "hamlet", "suburb", "neighbourhood", "quarter"})


@lru_cache(maxsize=1)
def _t2s():  # type: ignore[no-untyped-def]
    from opencc import OpenCC  # a few MB of dictionaries: load once, on first use

    return OpenCC("t2s")


def fold(text: str) -> str:
    """The form names are compared in: simplified Chinese, no accents, lower case, no punctuation."""
    if CJK.search(text):
        text = _t2s().convert(text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[^\w\u3400-\u9fff]+", " ", text).strip()
    words = [ABBREVIATIONS.get(w, w) for w in text.split()]
    return ("" if CJK.search(text) else " ").join(words)


GENERIC_WORDS = frozenset(
    {
        "avinguda", "carrer", "carretera", "placa", "placeta", "passatge", "travessia", "cami", "baixada",
        "pont", "tunel", "urbanitzacio", "de", "del", "dels", "la", "les", "el", "els", "l", "d", "i",
        "street", "road", "avenue", "calle", "rue",
    }
)  # fmt: skip
"""Words every street name shares; a match on them alone says nothing."""


def core(folded: str) -> str:
    words = [w for w in folded.split() if w not in GENERIC_WORDS]
    return " ".join(words) if words else folded


class NameIndex:
    """Fuzzy lookup over folded names, scored on the distinctive part of the name (75%) and the whole."""

    def __init__(self, names: list[str]) -> None:
        self.full = [fold(n) for n in names]
        self.core = [core(f) for f in self.full]

    def match(self, query: str, limit: int, cutoff: float) -> list[tuple[int, float]]:
        """(index, score 0..1) best first, at most ``limit``, none under ``cutoff``."""
        folded = fold(query)
        if not folded or not self.full:
            return []
        q_core = core(folded)
        pool = {i for _, _, i in process.extract(q_core, self.core, scorer=fuzz.WRatio, limit=limit * 5)}
        pool |= {i for _, _, i in process.extract(folded, self.full, scorer=fuzz.WRatio, limit=limit * 5)}
        scored = []
        for i in pool:
            score = 0.75 * fuzz.WRatio(q_core, self.core[i]) + 0.25 * fuzz.WRatio(folded, self.full[i])
            if score >= cutoff * 100:
                scored.append((int(i), round(score / 100, 3)))
        scored.sort(key=lambda x: (-x[1], x[0]))
        return scored[:limit]


@dataclass(frozen=True, slots=True)
class Street:
    """One stretch of a named street (same name, edges within ``cluster_m`` of each other)."""

    name: str
    label: str
    lat: float
    lon: float
    nodes: frozenset[int]


class Geocoder:
    """``AddressResolver`` (see ``jingwu.domain.places``) built from a ``RoadNetwork``."""

    def __init__(
        self,
        network: RoadNetwork,
        *,
        max_reverse_m: float = 150.0,
        min_score: float = 0.6,
        crossing_score: float = 0.8,
        cluster_m: float = 250.0,
        nearest_road: Callable[[GeoPoint], SnappedPoint] | None = None,
    ) -> None:
        """``nearest_road``: a snap of a point to the whole network (the travel times' own, which
        remembers it), which reverse geocoding reads first (see ``reverse``)."""
        self.network = network
        self.max_reverse_m = max_reverse_m
        self.nearest_road = nearest_road
        self.min_score = min_score
        self.crossing_score = crossing_score
        self.cluster_m = cluster_m
        self.streets = self._streets()
        self.towns = [p for p in network.places if p.kind == "place" and p.category in TOWN_KINDS]
        self._town_tree = cKDTree([_xy(t.lat, t.lon) for t in self.towns]) if self.towns else None
        stretches = Counter(s.name for s in self.streets)
        for i, s in enumerate(self.streets):
            if stretches[s.name] > 1:
                self.streets[i] = Street(s.name, self._near_town(s.name, s.lat, s.lon), s.lat, s.lon, s.nodes)
        self.street_names = sorted({s.name for s in self.streets})
        self.street_index = NameIndex(self.street_names)
        self.streets_by_name: dict[str, list[Street]] = {}
        for s in self.streets:
            self.streets_by_name.setdefault(s.name, []).append(s)
        self.places = list(network.places)
        self.place_index = NameIndex([p.name for p in self.places])
        self.town_index = NameIndex([t.name for t in self.towns])
        named = network.name_id >= 0
        self.reverse_snapper = RoadSnapper(network, max_distance_m=max_reverse_m, edge_mask=named)

    # --- building ------------------------------------------------------------------------------

    def _streets(self) -> list[Street]:
        net = self.network
        streets: list[Street] = []
        mid_lat = (net.lat[net.tail] + net.lat[net.head]) / 2
        mid_lon = (net.lon[net.tail] + net.lon[net.head]) / 2
        kx = 111_320 * np.cos(np.radians(float(net.lat.mean()))) if net.n_nodes else 111_320
        by_name: dict[str, list[int]] = {}
        for name_id in np.unique(net.name_id[net.name_id >= 0]):
            for part in net.names[int(name_id)].split(";"):
                if part.strip():
                    by_name.setdefault(part.strip(), []).append(int(name_id))
        order = np.argsort(net.name_id, kind="stable")
        bounds = np.searchsorted(net.name_id[order], np.arange(len(net.names) + 1))
        for name, ids in by_name.items():
            edges = np.concatenate([order[bounds[i] : bounds[i + 1]] for i in ids])
            xy = np.column_stack([mid_lon[edges] * kx, mid_lat[edges] * 111_320])
            pairs = cKDTree(xy).query_pairs(self.cluster_m, output_type="ndarray")
            k = len(edges)
            graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
            _, labels = connected_components(graph, directed=False)
            for label in np.unique(labels):
                mine = edges[labels == label]
                centre = xy[labels == label].mean(axis=0)
                nearest = mine[np.argmin(((xy[labels == label] - centre) ** 2).sum(axis=1))]
                nodes = frozenset(np.concatenate([net.tail[mine], net.head[mine]]).tolist())
                streets.append(Street(name, name, float(mid_lat[nearest]), float(mid_lon[nearest]), nodes))
        return streets

    def _near_town(self, name: str, lat: float, lon: float) -> str:
        if not self.towns:
            return f"{name} ({lat:.4f}, {lon:.4f})"
        assert self._town_tree is not None
        _, nearest = self._town_tree.query(_xy(lat, lon))
        return f"{name}, {self.towns[int(nearest)].name}"

    # --- forward -------------------------------------------------------------------------------

    def forward(self, text: str, limit: int = 5) -> list[PlaceCandidate]:
        """Candidates best first; scores 0..1. Intersections are tried whenever a separator appears.

        Text after a comma is read as the locality ("Carrer Major, La Massana"): candidates near
        that town rank above same-named ones elsewhere.
        """
        main, _, locality = re.sub(r"[，,]", ",", text).partition(",")
        query = main.strip()
        if not query or limit <= 0:
            return []
        found: dict[tuple[str, str], PlaceCandidate] = {}

        def keep(c: PlaceCandidate) -> None:
            key = (c.kind, c.label)
            if key not in found or found[key].score < c.score:
                found[key] = c

        bare = JUNCTION_SUFFIX.sub("", query)
        crossing = self._intersections(bare)
        for c in crossing:
            keep(c)
        penalty = 0.85 if crossing else 1.0  # the caller named two streets: a junction is meant
        street_query = HOUSE_NUMBER.sub(" ", bare) if fold(HOUSE_NUMBER.sub(" ", bare)) else bare
        for i, score in self.street_index.match(street_query, limit * 2, self.min_score):
            for s in self.streets_by_name[self.street_names[i]]:
                keep(PlaceCandidate(s.label, GeoPoint(s.lat, s.lon), "street", round(score * penalty, 3)))
        for idx, score in self.place_index.match(bare, limit * 2, self.min_score):
            p = self.places[idx]
            label = p.name if p.kind == "place" else f"{p.name} ({p.category})"
            keep(PlaceCandidate(label, GeoPoint(p.lat, p.lon), p.kind, round(score * penalty, 3)))
        candidates = self._near_locality(list(found.values()), locality.strip())
        ranked = sorted(candidates, key=lambda c: (-c.score, _kind_order(c.kind), c.label))
        return ranked[:limit]

    def _near_locality(
        self, candidates: list[PlaceCandidate], locality: str, radius_m: float = 3000.0
    ) -> list[PlaceCandidate]:
        if not locality or not self.towns:
            return candidates
        hits = self.town_index.match(locality, 1, 0.85)
        if not hits:
            return candidates
        town = self.towns[hits[0][0]]
        centre = GeoPoint(town.lat, town.lon)
        out = []
        for c in candidates:
            closeness = max(0.0, 1.0 - haversine_m(c.point, centre) / radius_m)
            out.append(replace(c, score=round(c.score * (0.9 + 0.1 * closeness), 3)))
        return out

    def _intersections(self, text: str) -> list[PlaceCandidate]:
        """Try every separator as the split point: "i" is both "and" and part of "Fiter i Rossell"."""
        out: list[PlaceCandidate] = []
        for sep in SEPARATORS.finditer(text):
            first, second = text[: sep.start()].strip(), text[sep.end() :].strip()
            if first and second:
                out += self._crossing(first, second)
        return out

    def _crossing(self, first: str, second: str) -> list[PlaceCandidate]:
        left = [(self.street_names[i], sc) for i, sc in self.street_index.match(first, 5, self.crossing_score)]
        right = [(self.street_names[i], sc) for i, sc in self.street_index.match(second, 5, self.crossing_score)]
        out = []
        for a, sa in left:
            for b, sb in right:
                if a == b:
                    continue
                for junction in self._junctions(a, b):
                    lat, lon = float(self.network.lat[junction]), float(self.network.lon[junction])
                    label = f"{a} & {b}"
                    if len(self.streets_by_name[a]) > 1:
                        label = self._near_town(label, lat, lon)
                    out.append(PlaceCandidate(label, GeoPoint(lat, lon), "intersection", round((sa + sb) / 2, 3)))
        return out

    def _junctions(self, a: str, b: str) -> list[int]:
        """One node per place where streets ``a`` and ``b`` meet (dual carriageways meet several times)."""
        shared = set().union(*(s.nodes for s in self.streets_by_name[a]))
        shared &= set().union(*(s.nodes for s in self.streets_by_name[b]))
        if not shared:
            return self._near_miss(a, b)
        nodes = np.array(sorted(shared))
        net = self.network
        chosen: list[int] = []
        for v in nodes:
            here = GeoPoint(float(net.lat[v]), float(net.lon[v]))
            if all(haversine_m(here, GeoPoint(float(net.lat[c]), float(net.lon[c]))) > self.cluster_m for c in chosen):
                chosen.append(int(v))
        return chosen

    def _near_miss(self, a: str, b: str, within_m: float = 60.0) -> list[int]:
        """Streets that do not share a node but come within a few metres (mapped as separate ways)."""
        net = self.network
        na = np.array(sorted(set().union(*(s.nodes for s in self.streets_by_name[a]))))
        nb = np.array(sorted(set().union(*(s.nodes for s in self.streets_by_name[b]))))
        kx = 111_320 * np.cos(np.radians(float(net.lat[na].mean())))
        tb = cKDTree(np.column_stack([net.lon[nb] * kx, net.lat[nb] * 111_320]))
        d, _ = tb.query(np.column_stack([net.lon[na] * kx, net.lat[na] * 111_320]))
        return [int(na[np.argmin(d)])] if len(d) and d.min() <= within_m else []

    # --- reverse -------------------------------------------------------------------------------

    def reverse(self, point: GeoPoint) -> ReversePlace:
        """The nearest named street within ``max_reverse_m`` (jurisdiction is the caller's business).

        An incident's place is snapped twice otherwise: here to the named streets and, for its
        units' ETAs, to every road. When the nearest road is a named street and its nearest point
        lies inside a segment, that street is also the nearest named one, so the travel times'
        snap (``nearest_road``) answers both. At a segment's end (its nearest point is a node that
        other segments share at the same distance) the named streets are searched as before, so
        a tie is settled as before too."""
        near = self.nearest_road(point) if self.nearest_road is not None else None
        if (near is not None and 0.0 < near.fraction < 1.0 and near.off_road_m <= self.max_reverse_m
                and self.network.name_id[near.edge] >= 0):
            snap = near
        else:
            snap = self.reverse_snapper.snap(point)
        if not snap.on_network:
            return ReversePlace(street=None, distance_m=None)
        name = self.network.names[int(self.network.name_id[snap.edge])].split(";")[0].strip()
        return ReversePlace(street=name, distance_m=round(snap.off_road_m, 1))


def _xy(lat: float, lon: float) -> tuple[float, float]:
    """Rough planar metres, good enough to find the nearest town."""
    return lon * 111_320 * math.cos(math.radians(lat)), lat * 111_320


def _kind_order(kind: str) -> int:
    return {"intersection": 0, "street": 1, "place": 2, "poi": 3}.get(kind, 4)
