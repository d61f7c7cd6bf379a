"""Settings that are worked out from others (the operations lane's threads), and their bounds."""

from __future__ import annotations

import pytest

from jingwu.config import Settings


@pytest.mark.parametrize("url,threads", [
    ("sqlite:///.jingwu/jingwu.db", 1),
    ("postgresql+psycopg://postgres@127.0.0.1:5432/test", 0),  # on the event loop
    ("postgresql+psycopg://jingwu@localhost/jingwu?options=-csearch_path%3Dbench", 0),
    ("postgresql+psycopg://jingwu@[::1]:5432/jingwu", 0),
    ("postgresql+psycopg:///jingwu?host=/var/run/postgresql", 0),  # a socket on this machine
    ("postgresql+psycopg://jingwu@db.internal:5432/jingwu", 2),
    ("postgresql+psycopg://jingwu@10.0.0.7/jingwu", 2),
])
def test_lane_threads_follow_where_the_database_is(url: str, threads: int) -> None:
    assert Settings(database_url=url).operation_threads() == threads


def test_lane_threads_asked_for_are_kept() -> None:
    assert Settings(database_url="sqlite:///x.db", api_operation_threads=4).operation_threads() == 4
    remote = Settings(database_url="postgresql+psycopg://u@db.internal/j", api_operation_threads=1)
    assert remote.operation_threads() == 1
    assert Settings(database_url="sqlite:///x.db", api_operation_threads=0).operation_threads() == 0
    with pytest.raises(ValueError, match="api_operation_threads"):
        Settings(api_operation_threads=-1)
    with pytest.raises(ValueError, match="api_operation_threads"):
        Settings(api_operation_threads=65)


def test_possible_duplicates_offered_are_bounded() -> None:
    assert Settings().duplicate_offer_limit == 10
    with pytest.raises(ValueError, match="duplicate_offer_limit"):
        Settings(duplicate_offer_limit=0)


def test_the_bus_subject_is_a_nats_subject_prefix() -> None:
    assert Settings().bus_subject == "jingwu"
    assert Settings(bus_subject="jingwu.andorra-2").bus_subject == "jingwu.andorra-2"
    for bad in ("", "jingwu.>", "a b", "jingwu.*", "jingwu."):
        with pytest.raises(ValueError, match="bus_subject"):
            Settings(bus_subject=bad)
