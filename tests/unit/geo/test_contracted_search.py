"""The search over the junction graph (chains of shape points contracted) against the whole graph's.

Both must give the same times within ``limit`` (floating-point summation aside), and predecessors
that follow real edges to the sources with the times they claim.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from jingwu.geo.reverse_search import JunctionTree, ReverseSearch, SearchTree
from jingwu.geo.roads import BuildReport, RoadNetwork, network_of

RTOL, ATOL = 1e-9, 1e-6


def _network(n: int, edges: list[tuple[int, int, float]]) -> RoadNetwork:
    """A network straight from ``(tail, head, seconds)`` triples: no component cut, no penalties."""
    tail = np.array([u for u, _, _ in edges], dtype=np.int32)
    head = np.array([v for _, v, _ in edges], dtype=np.int32)
    seconds = np.array([s for _, _, s in edges], dtype=np.float64)
    angle = np.arange(n) * 0.7
    return network_of(42.5 + 0.001 * np.sin(angle), 1.5 + 0.001 * np.cos(angle), tail, head, seconds * 10, seconds,
                      BuildReport("test", "", n, len(edges), 0, 0, 0.0))


def _both(pairs: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    return [e for u, v, s in pairs for e in ((u, v, s), (v, u, s * 1.1))]


def _one_way(path: list[int], seconds: float) -> list[tuple[int, int, float]]:
    return [(u, v, seconds + 0.1 * i) for i, (u, v) in enumerate(itertools.pairwise(path))]


def _two_way(path: list[int], seconds: float) -> list[tuple[int, int, float]]:
    return _both(_one_way(path, seconds))


def _edges(*parts: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    return [e for part in parts for e in part]


# Small networks, each with a few junctions (3+ neighbours or dead ends) and chains between them.
MIXED = _network(
    14,
    _edges(
        # chain 0-1-2-3-4-5: two-way, one-way forward 1->2, two-way, one-way backward 4->3, two-way
        _two_way([0, 1], 5), [(1, 2, 7.0)], _two_way([2, 3], 4), [(4, 3, 6.0)], _two_way([4, 5], 3),
        _two_way([0, 6, 7, 5], 9),  # another way between the same junctions
        _two_way([0, 10], 2), _two_way([0, 11], 2), _two_way([5, 12], 2), _two_way([5, 13], 8),  # dead ends
        _two_way([8, 9], 1), _two_way([9, 6], 1),  # a dead-end spur off the other way
    ),
)  # fmt: skip
PARALLEL = _network(
    10,
    _edges(
        _two_way([0, 2, 3, 1], 10),  # slow two-way chain
        _two_way([0, 4, 1], 6),  # fast two-way chain between the same junctions
        _one_way([0, 5, 6, 7, 1], 1),  # fastest, but one-way
        _two_way([0, 1], 40),  # a direct edge (a chain without shape points)
        _two_way([0, 8], 3), _two_way([1, 9], 3),
    ),
)  # fmt: skip
LOOPS = _network(
    16,
    _edges(
        _two_way([0, 1, 2, 3, 0], 4),  # a loop chain at junction 0
        _one_way([0, 4, 5, 0], 3),  # a one-way loop at the same junction
        _two_way([0, 6, 7], 5),  # to a dead end
        _two_way([10, 11, 12, 13, 10], 2),  # an isolated two-way cycle: no junction at all
        _one_way([14, 15, 8, 14], 2),  # an isolated one-way cycle
        _two_way([6, 9], 1),
    ),
)  # fmt: skip
SMALL = {"mixed": MIXED, "parallel": PARALLEL, "loops": LOOPS}


def _pred_time(net: RoadNetwork, weights: np.ndarray, tree: SearchTree, v: int, sources) -> float:
    """Time along the predecessors from ``v`` to the root, each step a real edge."""
    total, steps = 0.0, 0
    while True:
        u = int(tree.pred[v])
        if u == tree.root:
            return total + min(max(o, 1e-6) for s, o in sources if s == v)
        assert u >= 0, f"node {v} on a path has no predecessor"
        e = net.edge_between(v, u)
        assert e >= 0, f"no edge {v} -> {u}"
        total += float(weights[e])
        v = u
        steps += 1
        assert steps <= net.n_nodes, "the predecessors loop"


def _check(net: RoadNetwork, search: ReverseSearch, weights, sources, limit, paths: int | None = None, rng=None):
    whole = search._whole_graph(weights, sources, limit)
    tree = search._contracted_search(weights, sources, limit)
    assert tree is not None
    n = net.n_nodes
    _check_lazy(tree, search._contracted_search(weights, sources, limit), n)
    assert tree.root == n and tree.nodes is None
    assert tree.dist.shape == (n + 1,) and tree.pred.shape == (n + 1,)
    assert tree.dist[n] == 0 and tree.pred[n] == -9999
    a, b = whole.dist, tree.dist
    both = np.isfinite(a) & np.isfinite(b)
    np.testing.assert_allclose(b[both], a[both], rtol=RTOL, atol=ATOL)
    # only a node at the bound itself may be in one and out of the other (rounding)
    only = np.isfinite(a) != np.isfinite(b)
    assert np.all(np.abs(np.where(np.isfinite(a), a, b)[only] - limit) <= ATOL)
    assert np.all(tree.pred[~np.isfinite(b)] == -9999)
    assert np.all(tree.pred[:n][np.isfinite(b[:n])] >= 0)
    reached = np.flatnonzero(np.isfinite(b[:n]))
    if paths is not None and len(reached) > paths:
        reached = rng.choice(reached, paths, replace=False)
    for v in reached.tolist():
        assert np.isclose(_pred_time(net, weights, tree, v, sources), b[v], rtol=RTOL, atol=ATOL)


def _check_lazy(tree: JunctionTree, fresh: JunctionTree, n: int) -> None:
    """A node read on its own (``dist_at``, ``dist_of``, ``pred_at``, a walk) is bit for bit what
    the expansion of every node gives; ``fresh`` is the same search, never expanded."""
    dist, pred = tree.dist, tree.pred
    assert np.array_equal(fresh.dist_of(np.arange(n + 1)), dist)
    some = range(n + 1) if n <= 400 else np.random.default_rng(n).choice(n, 150, replace=False).tolist()
    assert [fresh.dist_at(v) for v in some] == dist[some].tolist()
    assert [fresh.pred_at(v) for v in some] == pred[some].tolist()
    assert fresh._full is None, "reading nodes must not expand the tree"
    whole = SearchTree(dist, pred, n, None)
    for start in (v for v in some if v < n):
        # to the root, and to a node an earlier walk passed (where the walk must stop)
        two_on = int(pred[pred[start]]) if pred[start] >= 0 else -9999
        for seen in ({n: -1, -9999: -1}, {n: -1, -9999: -1, two_on: 5}):
            if start not in seen:
                assert fresh.walk(start, seen) == whole.walk(start, seen)


def _sources_on_edge(net: RoadNetwork, weights, e: int, f: float) -> list[tuple[int, float]]:
    """As ``RoadTravelTimes._search`` builds them for a point a fraction ``f`` along edge ``e``."""
    sources = [(int(net.tail[e]), f * float(weights[e]))]
    twin = net.edge_between(int(net.head[e]), int(net.tail[e]))
    if twin >= 0:
        sources.append((int(net.head[e]), (1 - f) * float(weights[twin])))
    elif f >= 1 - 1e-9:
        sources.append((int(net.head[e]), 0.0))
    return sources


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_networks_every_edge_and_node(name):
    net = SMALL[name]
    search = ReverseSearch(net, contract_share=1.0)  # contracted even with more junctions than shape points
    assert search._junction_chains() is not None
    weights = net.weights()
    rng = np.random.default_rng(3)
    limits = [np.inf, 0.0, 5.0, 12.5, 30.0, 1e3]
    for e in range(net.n_edges):
        for f in (0.0, 0.3, 1.0):
            for limit in limits:
                _check(net, search, weights, _sources_on_edge(net, weights, e, f), limit)
    for v in range(net.n_nodes):  # one source at any node, junction or not, and two unrelated ones
        _check(net, search, weights, [(v, 2.5)], float(rng.choice(limits)))
        other = int(rng.integers(net.n_nodes))
        _check(net, search, weights, [(v, 1.0), (other, float(rng.uniform(0, 20)))], float(rng.choice(limits)))


def test_small_networks_are_contracted_as_described():
    assert ReverseSearch(MIXED)._junction_chains() is None  # 8 junctions of 14 nodes: not worth it
    c = ReverseSearch(MIXED, contract_share=1.0)._junction_chains()
    assert c is not None
    # junctions: 0 and 5 (3+ neighbours), 6 (3), dead ends 8, 10..13; the rest are shape points
    assert set(c.junctions.tolist()) == {0, 5, 6, 8, 10, 11, 12, 13}
    loops = ReverseSearch(LOOPS, contract_share=1.0)._junction_chains()
    assert loops is not None
    # each isolated cycle gets one node to stand for it
    assert len(set(loops.junctions.tolist()) & {10, 11, 12, 13}) == 1
    assert len(set(loops.junctions.tolist()) & {14, 15, 8}) == 1


@pytest.mark.parametrize("walk_below", [0, 10_000])
def test_long_and_short_chains_agree(walk_below):
    """Sources inside a chain: the walk (short chains) and the vectorised sweep (long ones)."""
    path = list(range(1, 40))
    edges = _edges(
        _two_way([0, *path[:10]], 2), _one_way(path[9:20], 3), _two_way(path[19:], 1.5),  # one chain
        _two_way([path[-1], 40], 2), _two_way([0, 41], 2), _two_way([0, 42], 1), _two_way([40, 43], 1),
        _two_way([40, 44], 1), _two_way([42, 44], 200),
    )  # fmt: skip
    net = _network(45, edges)
    search = ReverseSearch(net, walk_below=walk_below, contract_share=1.0)
    weights = net.weights()
    rng = np.random.default_rng(11)
    for _ in range(150):
        e = int(rng.integers(net.n_edges))
        limit = float(rng.choice([np.inf, rng.uniform(0, 120)]))
        _check(net, search, weights, _sources_on_edge(net, weights, e, float(rng.random())), limit)


@pytest.mark.parametrize("walk_below", [0, 64, 10_000])
def test_andorra_matches_whole_graph(andorra, walk_below):
    search = ReverseSearch(andorra, walk_below=walk_below)
    assert search._junction_chains() is not None
    rng = np.random.default_rng(walk_below + 1)
    arrays = [andorra.weights(), andorra.weights([1.0, 1.3, 1.5, 1.2, 1.1, 1.0, 1.0, 1.0, 1.0, 1.0])]
    for trial in range(60):
        weights = arrays[trial % 2]
        e = int(rng.integers(andorra.n_edges))
        limit = float(rng.choice([np.inf, rng.uniform(0, 300), rng.uniform(300, 2500)]))
        sources = _sources_on_edge(andorra, weights, e, float(rng.choice([0.0, rng.random(), 1.0])))
        _check(andorra, search, weights, sources, limit, paths=25, rng=rng)


def test_andorra_sources_at_junctions_and_far_apart(andorra):
    search = ReverseSearch(andorra)
    c = search._junction_chains()
    assert c is not None
    weights = andorra.weights()
    rng = np.random.default_rng(5)
    for _ in range(20):
        j = int(rng.choice(c.junctions))
        other = int(rng.integers(andorra.n_nodes))
        _check(andorra, search, weights, [(j, float(rng.uniform(0, 30)))], 800.0, paths=20, rng=rng)
        _check(andorra, search, weights, [(j, 0.0), (other, 3.0)], float(rng.uniform(0, 1500)), paths=20, rng=rng)


def test_run_picks_the_contracted_search_only_where_it_pays(andorra):
    search = ReverseSearch(andorra)
    weights = andorra.weights()
    calls = []
    original = search._contracted_search
    search._contracted_search = lambda *a: calls.append(a) or original(*a)  # type: ignore[method-assign]
    tree = search.run(weights, [(100, 1.0)], np.inf, (42.5, 1.5))
    assert calls and np.isfinite(tree.dist[:-1]).all()
    # a grid has no shape points: never contracted, the chains are never even built
    side = 12
    grid = [(i * side + j, i * side + j + 1, 5.0) for i in range(side) for j in range(side - 1)]
    grid += [(i * side + j, (i + 1) * side + j, 5.0) for i in range(side - 1) for j in range(side)]
    net = _network(side * side, _both(grid))
    plain = ReverseSearch(net)
    assert not plain._may_contract
    assert plain._contracted_search(net.weights(), [(0, 1.0)], np.inf) is None
    assert plain._chains is None


def test_concurrent_searches_stay_exact(andorra):
    search = ReverseSearch(andorra)
    weights = andorra.weights()
    rng = np.random.default_rng(9)
    cases = [
        (_sources_on_edge(andorra, weights, int(e), 0.5), float(lim))
        for e, lim in zip(rng.integers(andorra.n_edges, size=40), rng.uniform(200, 2000, size=40), strict=True)
    ]
    expected = [search._whole_graph(weights, s, lim).dist for s, lim in cases]
    failures: list[int] = []

    def work(offset: int) -> None:
        for i in range(len(cases)):
            k = (i + offset) % len(cases)
            got = search._contracted_search(weights, *cases[k])
            assert got is not None
            a, b = expected[k], got.dist
            if not np.array_equal(np.isfinite(a), np.isfinite(b)) or not np.allclose(
                a[np.isfinite(a)], b[np.isfinite(a)], rtol=RTOL, atol=ATOL
            ):
                failures.append(k)

    threads = [threading.Thread(target=work, args=(t * 7,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
