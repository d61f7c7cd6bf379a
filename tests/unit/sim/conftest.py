"""Shared pieces for the simulator's unit tests: the Andorra organisation and call surfaces."""

from __future__ import annotations

import pytest

from jingwu.domain.org import OrgTree
from jingwu.geo.roads import RoadNetwork, load_road_network, shipped_andorra
from jingwu.services.catalogue import load_catalogue
from jingwu.services.demo import andorra_org
from jingwu.sim.mix import IncidentMix, load_mix
from jingwu.sim.spatial import CallSurfaces, build_surfaces


@pytest.fixture(scope="session")
def org() -> OrgTree:
    return OrgTree(andorra_org())


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory) -> RoadNetwork:
    return load_road_network(shipped_andorra(), tmp_path_factory.getbasetemp() / "jingwu-data" / "roads")


@pytest.fixture(scope="session")
def surfaces(network: RoadNetwork, org: OrgTree) -> CallSurfaces:
    return build_surfaces(network, shipped_andorra(), org)


@pytest.fixture(scope="session")
def mix() -> IncidentMix:
    return load_mix(load_catalogue())
