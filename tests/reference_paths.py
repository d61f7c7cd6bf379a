"""The node-by-node ``PathTree`` walk as it was before its bookkeeping was trimmed (commit 7bbda41);
routes are assembled from the walks by the inherited ``PathTree.path``.

Kept as the reference the walks must match in tests/unit/geo/test_path_walk.py (the same nodes and
drawn points; ``PathTree``'s metres bit for bit, ``ChainPathTree``'s within a few ulps), and as a
baseline of tests/bench/test_path_walk_bench.py.
"""

from __future__ import annotations

import numpy as np

from jingwu.geo.travel import PathTree


class NodeByNodePathTree(PathTree):
    def _walk(self, here: int) -> int:
        passed, root = self._passed, self.searched.root
        step, seen = self.searched.pred.item, passed.get
        walk: list[int] = []
        v = here
        rest = (-1, 0)
        while True:
            walk.append(v)
            w = step(v)
            if w == root or w < 0:
                break
            at = seen(w)
            if at is not None:
                rest = divmod(at, 2**32)
                break
            v = w
        nodes = self.searched.network_ids(walk)
        hops, tail_m = nodes, 0.0
        if rest[0] >= 0:
            hops = np.append(nodes, self._nodes[rest[0]][rest[1]])
            tail_m = float(self._metres[rest[0]][rest[1]])
        net = self.travel.network
        legs = net.metres[self.travel._edges_along(hops)] if len(hops) > 1 else np.zeros(0)
        metres = np.cumsum(np.concatenate([[tail_m], legs[::-1]]))[::-1][: len(walk)].copy()
        base = len(self._nodes) * 2**32
        self._nodes.append(nodes)
        self._metres.append(metres)
        self._rest.append(rest)
        passed.update(zip(walk, range(base, base + len(walk)), strict=True))
        self.nbytes += nodes.nbytes + metres.nbytes + 100 * len(walk) + 250
        return base
