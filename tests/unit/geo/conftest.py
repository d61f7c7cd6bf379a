from pathlib import Path

import pytest

from jingwu.geo.roads import RoadNetwork, load_road_network, shipped_andorra
from jingwu.geo.travel import RoadTravelTimes

SHENZHEN = Path(__file__).resolve().parents[2] / "data" / "shenzhen_futian_roads.graphml"


@pytest.fixture(scope="session")
def road_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("roads")


@pytest.fixture(scope="session")
def andorra(road_cache) -> RoadNetwork:
    return load_road_network(shipped_andorra(), road_cache)


@pytest.fixture(scope="session")
def andorra_travel(andorra) -> RoadTravelTimes:
    return RoadTravelTimes(andorra)


@pytest.fixture(scope="session")
def shenzhen(road_cache) -> RoadNetwork:
    return load_road_network(SHENZHEN, road_cache)
