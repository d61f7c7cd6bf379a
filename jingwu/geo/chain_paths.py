"""Routes read off a junction-graph search a chain at a time.

``PathTree`` reads a route node by node: ~0.25 us a node for the walk, its metres and its drawn
line, and Andorra's routes cross ~190 nodes (mountain roads), so ten routes were ~0.65 ms of an
intake's ~3 ms. A search on the junction graph (``JunctionTree``) already knows that a route
crosses each chain of shape points whole, in one direction, so here a walk keeps one run a chain
(``JunctionTree.runs``) and never lists the chain's nodes:

- metres come from per-position prefix sums (``_Chains.along_f`` and ``along_b``, one for each way
  along a chain, since the two ways of a street may differ): a node's metres are the
  metres along its run to the run's end (the junction at the chain's end or, in the incident's
  own chain, where the way turns off it) plus that end's metres, which depend only on the node and
  the tree, never on which walk came first;
- drawn lines are slices of each chain's drawn points, made once per network and shared
  (``RouteDrawing.chain_points``).

The routes are the node-by-node walk's: the same points, and metres within a few ulps (a prefix
sum's difference instead of a sum from the end); tests/unit/geo/test_path_walk.py holds both.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import TYPE_CHECKING, Final

import numpy as np

from jingwu.geo.drawing import Line, Point, RouteDrawing
from jingwu.geo.reverse_search import JunctionTree, Run, _Chains

if TYPE_CHECKING:
    from jingwu.geo.travel import RoadTravelTimes

END = -1
"""The place where a way that reaches the incident's street joins: nowhere."""
RUNS = 2**32
"""Room for a walk's runs in a place's number."""

Walk = tuple[tuple[int, ...], tuple[float, ...], int, int]
"""A walk's runs (``JunctionTree.runs``, flat), the metres from the node each run ends at (a run
of one node: from it), the place where it joins an earlier walk (``END``: none) and the node its
route leaves the network by, for the incident's street. One tuple of tuples of numbers: the
garbage collector stops tracking it after its first pass, while a kept search walked by
lists of these parts held six more objects for it to walk (docs/benchmarks.md, "The collector
walked the caches")."""
RUNS_AT: Final = 0
METRES: Final = 1
JOIN: Final = 2
END_NODE: Final = 3


class ChainPathTree:
    """``PathTree``'s routes for a ``JunctionTree``, a run a chain at a time (see the module).

    A place on the walks (walk ``w``, its run ``r``, chain position ``pos`` or -1 for a run of one
    node) is one int, ``(w * RUNS + r) * P + pos + 1`` with ``P`` one more than the chain table's
    length, and a walk's runs are one flat tuple of ints (four a run). What a tree keeps is ints,
    floats and tuples of them (points are tuples of floats), which the garbage collector stops
    tracking after their first collection, and dicts of ints it never tracks: kept in lists and
    tuples of tuples, the collector's passes took ~0.1 ms a flow more in the intake benchmark
    in-process than with the node walk's arrays (measured with ``gc.callbacks``).
    """

    def __init__(self, travel: RoadTravelTimes, searched: JunctionTree) -> None:
        """``travel`` draws the lines (``RoadTravelTimes._drawing``, made when a line is first asked
        for); its drawing must read the chain table ``searched`` was made on."""
        self.travel = travel
        self.searched = searched
        self._P = len(searched.chains.node) + 1
        self._seen: dict[int, int] = {searched.root: END, -9999: END}
        """node -> its place, for the nodes walked one at a time and the junctions that end runs"""
        self._pieces: dict[int, tuple[int, ...]] = {}
        """chain -> (lo, hi, place of position 0) triples, flat: the positions of its table runs cover"""
        self._walks: list[Walk] = []
        """each walk's runs, their metres, where it joins and where its route ends (``Walk``)"""
        self._drawn: dict[int, tuple[Line, tuple[int, ...]]] = {}
        """walk -> its drawn points and where in them each run's points begin, made when a line
        is first asked for"""
        self.nbytes = 0
        self._lock = travel.walks_lock

    def route(self, start: int, with_line: bool = True) -> tuple[int, float, Sequence[Point] | None]:
        """The node the route from ``start`` leaves the network by, its metres, and its drawn points
        (``RouteDrawing.line`` of the node-by-node path) when ``with_line``."""
        with self._lock:
            place = self._start(start)
            metres = self._metres_at(place)
            w, r, pos = self._decode(place)
            end = self._walks[w][END_NODE]
            if not with_line:
                return end, metres, None
            line: list[Point] = []
            drawing = self.travel._drawing()
            if not (drawing.at_drawn[start] or start == end):
                line.append(point_of(drawing.lonlat, start))
            while True:
                line.extend(self._line(w, drawing)[self._index(w, r, pos, drawing):])
                join = self._walks[w][JOIN]
                if join == END:
                    return end, metres, line
                w, r, pos = self._decode(join)

    def nodes(self, start: int) -> list[int]:
        """Every node of the route from ``start`` (what ``PathTree.path`` lists; for tests)."""
        node = self.searched.chains.node
        with self._lock:
            w, r, pos = self._decode(self._start(start))
        out: list[int] = []
        while True:
            runs = self._walks[w][RUNS_AT]
            for i in range(r, len(runs) // 4):
                ch, a, stop, _ = runs[4 * i : 4 * i + 4]
                if ch < 0:
                    out.append(a)
                    continue
                a = pos if i == r else a
                out.extend(node[a : stop + 1].tolist() if stop >= a else node[stop : a + 1].tolist()[::-1])
            join = self._walks[w][JOIN]
            if join == END:
                return out
            w, r, pos = self._decode(join)

    # --- places ----------------------------------------------------------------------------------

    def _code(self, w: int, r: int, pos: int) -> int:
        return (w * RUNS + r) * self._P + pos + 1

    def _decode(self, place: int) -> tuple[int, int, int]:
        key, pos = divmod(place, self._P)
        w, r = divmod(key, RUNS)
        return w, r, pos - 1

    def _start(self, v: int) -> int:
        """The place of node ``v``, walking from it first if no walk passed it."""
        got = self._seen.get(v)
        if got is not None:
            return got
        c = self.searched.chains
        pos = c.at_pos[v]
        if pos >= 0:
            pieces = self._pieces.get(c.at_chain[pos], ())
            for q in range(0, len(pieces), 3):
                if pieces[q] <= pos <= pieces[q + 1]:
                    return pieces[q + 2] + pos
        w = self._walk(v)
        runs = self._walks[w][RUNS_AT]
        return self._code(w, 0, runs[1] if runs[0] >= 0 else -1)

    def _metres_at(self, place: int) -> float:
        w, r, pos = self._decode(place)
        runs, metres, _, _ = self._walks[w]
        ch, _, _, end = runs[4 * r : 4 * r + 4]
        if ch < 0:
            return metres[r]
        return _driven(self.searched.chains, pos, end) + metres[r]

    # --- walking ---------------------------------------------------------------------------------

    def _walk(self, start: int) -> int:
        """Walk from ``start`` (not on any earlier walk) to the root or an earlier walk; its number.

        Metres are worked out from the far end back: a run's are those of the node it ends at,
        which the next run (or the walk it joins) gives."""
        runs, join = self.searched.runs(start, self._seen, self._pieces)
        w = len(self._walks)
        c = self.searched.chains
        node, along_f, along_b = c.at_node, c.at_along_f, c.at_along_b
        between, n = c.junction_steps().get, c.network.n_nodes
        seen, pieces, P = self._seen, self._pieces, self._P
        metres = [0.0] * len(runs)
        last = len(runs) - 1
        ch, a, stop, end = runs[last]
        if ch >= 0 and stop != end:  # joins an earlier walk before its end: in this chain, or at its end node
            jw, jr, _ = self._decode(join)
            m = self._walks[jw][METRES][jr] if self._walks[jw][RUNS_AT][4 * jr] == ch else self._metres_at(join)
        else:
            m = self._into(a if ch < 0 else node[end], None, 0.0, join)
        for i in range(last, -1, -1):
            if i < last:
                after_ch, after_a, after_end = ch, a, end
                ch, a, stop, end = runs[i]
                here = a if ch < 0 else node[end]  # the node before run i + 1
                if after_ch < 0:  # one node: often a junction next to this one
                    leg = between(here * n + after_a)
                    m = (self._step_m(here, after_a) if leg is None else leg) + m
                else:
                    entry = after_a - 1 if after_end > after_a else after_a + 1
                    if node[entry] == here:  # the junction run i + 1's chain starts at: one subtraction
                        m = (along_f[after_end] - along_f[entry] if after_end > entry
                             else along_b[entry] - along_b[after_end]) + m
                    else:
                        m = self._into(here, runs[i + 1], m, END)
            metres[i] = m
            place = ((w * RUNS + i) * P) + 1  # ``_code(w, i, pos)`` is ``place + pos``
            if ch < 0:
                seen[a] = place - 1
            else:
                pieces[ch] = (*pieces.get(ch, ()), a, stop, place) if a <= stop else (
                    *pieces.get(ch, ()), stop, a, place)
                if stop == end:
                    seen[node[end]] = place + end
        if join == END:
            ch, a, stop, _ = runs[-1]
            end_node = a if ch < 0 else node[stop]
        else:
            end_node = self._walks[self._decode(join)[0]][END_NODE]
        self._walks.append((tuple(chain.from_iterable(runs)), tuple(metres), join, end_node))
        self.nbytes += 300 + 300 * len(runs)  # measured with tracemalloc on Andorra: ~290-340 bytes a run
        return w

    def _into(self, v: int, run: Run | None, run_metres: float, join: int) -> float:
        """Metres from node ``v`` on, when the next step enters ``run`` (whose end node is
        ``run_metres`` from the route's end) or, with ``run`` None, the earlier walk at ``join``."""
        if run is None:
            if join == END:
                return 0.0
            jw, jr, pos = self._decode(join)
            j_runs, j_metres, _, _ = self._walks[jw]
            ch, a, stop, end = j_runs[4 * jr : 4 * jr + 4]
            if ch < 0:
                return self._step_m(v, a) + j_metres[jr]
            if pos == end:  # the node the run ends at
                return self._step_m(v, self.searched.chains.at_node[pos]) + j_metres[jr]
            run, run_metres = (ch, pos, stop, end), j_metres[jr]
        ch, a, _, end = run
        if ch < 0:
            return self._step_m(v, a) + run_metres
        c = self.searched.chains
        entry = a - 1 if end > a else a + 1
        if c.at_node[entry] == v:  # v is the junction the run's chain starts at
            return _driven(c, entry, end) + run_metres
        return self._step_m(v, c.at_node[a]) + _driven(c, a, end) + run_metres

    def _step_m(self, u: int, v: int) -> float:
        """Metres of the edge driven from ``u`` to ``v`` (next to each other on the network)."""
        c = self.searched.chains
        node = c.at_node
        p = c.at_pos[v]
        if p >= 0:  # v inside a chain: u is the position before it or after it
            return c.at_step_f[p - 1] if node[p - 1] == u else c.at_step_b[p]
        p = c.at_pos[u]
        if p >= 0:
            return c.at_step_f[p] if node[p + 1] == v else c.at_step_b[p - 1]
        return c.junction_steps()[u * c.network.n_nodes + v]

    # --- drawing ---------------------------------------------------------------------------------

    def _line(self, w: int, drawing: RouteDrawing) -> Line:
        made = self._drawn.get(w)
        if made is not None:
            return made[0]
        drawn, before, lonlat = drawing.at_drawn, drawing.at_drawn_before, drawing.lonlat
        points_of = drawing.chain_points
        at_first = self.searched.chains.at_first
        runs, _, join, end_node = self._walks[w]
        points: list[Point] = []
        at: list[int] = []
        for i in range(0, len(runs), 4):
            ch, a, stop, _ = runs[i : i + 4]
            at.append(len(points))
            if ch < 0:
                if drawn[a]:
                    points.append(point_of(lonlat, a))
                continue
            forward, backward = points_of(ch)
            first = before[at_first[ch]]
            if a <= stop:
                points.extend(forward[before[a] - first : before[stop + 1] - first])
            else:
                k = len(backward) - (before[a + 1] - first)
                points.extend(backward[k : k + before[a + 1] - before[stop]])
        if join == END and not drawn[end_node]:  # a route's last node is always drawn
            points.append(point_of(lonlat, end_node))
        line = tuple(points)
        self._drawn[w] = (line, tuple(at))
        self.nbytes += 8 * len(points) + 8 * len(at) + 100
        return line

    def _index(self, w: int, r: int, pos: int, drawing: RouteDrawing) -> int:
        """Where in walk ``w``'s points the place (``r``, ``pos``) is, or the first drawn after it."""
        at = self._drawn[w][1][r]
        ch, a, stop, _ = self._walks[w][RUNS_AT][4 * r : 4 * r + 4]
        if ch < 0 or pos == a:
            return at
        before = drawing.at_drawn_before
        if a <= stop:
            return at + before[pos] - before[a]
        return at + before[a + 1] - before[pos + 1]


def point_of(lonlat: np.ndarray, v: int) -> Point:
    """Node ``v``'s point, as ``RouteDrawing.points`` writes it."""
    lon, lat = lonlat[v].tolist()
    return (lon, lat)


def _driven(c: _Chains, a: int, b: int) -> float:
    """Metres driven from position ``a`` of a chain's table to position ``b`` of the same chain."""
    if b > a:
        return c.at_along_f[b] - c.at_along_f[a]
    return c.at_along_b[a] - c.at_along_b[b]
