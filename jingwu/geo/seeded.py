"""Searches kept per junction, shared by every incident on a chain that meets it.

A search from an incident's point inside a chain of shape points starts on the junction graph
from the chain's end junctions (``ReverseSearch.seeds``), each with the time from it along the
chain to the point. So, exactly, the incident's time from any node outside its chain is the
smaller of its seed junctions' own times plus those offsets, and its route is the winning seed's
route to that junction, then along the chain. A seed's own search does not depend on where on
the chain the incident is: it is kept (``RoadTravelTimes.seed_trees``) and serves every later
incident on any chain that meets the junction, with the walks of the routes read off it.

On the intake benchmark's calls (a 440 x 330 m box around each of seven places) 5,000 calls
needed 217 seed junctions of Andorra's 1,226, and searching, walking and drawing routes were
~40 % of the intake in-process (docs/benchmarks.md).

Times composed so differ from one search's in the last bits (the offset added after the sum
instead of before); on ties the route may take the other, equally fast, way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jingwu.geo.chain_paths import ChainPathTree
from jingwu.geo.drawing import Point
from jingwu.geo.reverse_search import SOURCE_FLOOR

if TYPE_CHECKING:
    from jingwu.geo.travel import KeptSearch


@dataclass(frozen=True, slots=True)
class Seed:
    """A seed junction of an incident's search: its node, its time to the incident, and its own
    kept search."""

    node: int
    time: float
    kept: KeptSearch


class SeededPaths:
    """Routes of an incident's search composed of kept seed searches (see the module).

    ``own`` reads the incident's own tree (composed the same way): the routes of units inside the
    incident's chain, and the stretch from a seed junction along the chain to the incident."""

    def __init__(self, own: ChainPathTree, seeds: Sequence[Seed], source_chains: tuple[int, ...]) -> None:
        """``source_chains``: the chains that hold the incident's sources (worked out in its own tree).

        Both are kept as tuples of ints, not sets: there are one to three of each, and a tuple of
        ints is an object the garbage collector stops tracking, while a set is walked for as long
        as the search is kept."""
        self.own = own
        self.seeds = tuple(seeds)
        self._chains = own.searched.chains
        self._chain_ids = source_chains
        self._seed_nodes = tuple(s.node for s in seeds)

    @property
    def nbytes(self) -> int:
        return self.own.nbytes  # the seeds' searches are counted where they are kept

    def route(self, start: int, with_line: bool = True) -> tuple[int, float, Sequence[Point] | None]:
        """``ChainPathTree.route`` of the incident's search, read off the winning seed's search."""
        c = self._chains
        pos = c.at_pos[start]
        if start in self._seed_nodes or (pos >= 0 and c.at_chain[pos] in self._chain_ids):
            return self.own.route(start, with_line)
        best, pick = math.inf, None
        for seed in self.seeds:
            t = seed.kept.searched.dist_at(start) - SOURCE_FLOOR + seed.time  # the seed's own floor out
            if t < best:
                best, pick = t, seed
        if pick is None:
            return self.own.route(start, with_line)
        to_seed, metres, line = pick.kept.paths.route(start, with_line)
        if to_seed != pick.node:  # not reached through the seed (cannot happen on a seed's own search)
            return self.own.route(start, with_line)
        end, along, rest = self.own.route(pick.node, with_line)
        if line is None or rest is None:
            return end, metres + along, None
        return end, metres + along, [*line, *rest[1:]]
