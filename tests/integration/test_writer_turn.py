"""Write transactions queue in the process on SQLite (``writer_turn``) instead of polling SQLite's
busy handler; on PostgreSQL they do not wait for one another."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine

from jingwu.store.engine import writer_turn
from jingwu.store.unit_of_work import UnitOfWork


def test_a_unit_of_work_waits_its_turn_on_sqlite_only(engine: Engine, backend: str) -> None:
    began = threading.Event()

    def write() -> None:
        with UnitOfWork(engine) as uow:
            began.set()
            uow.commit()

    with writer_turn(engine):  # another writer of this process is in its transaction
        other = threading.Thread(target=write)
        other.start()
        waited = not began.wait(0.5)
    other.join(timeout=10)
    assert began.is_set()
    assert waited is (backend == "sqlite")


def test_the_turn_is_given_back_when_a_unit_of_work_fails(engine: Engine) -> None:
    with pytest.raises(RuntimeError), UnitOfWork(engine):
        raise RuntimeError("use case refused")
    done = threading.Event()

    def write() -> None:
        with UnitOfWork(engine) as uow:
            uow.commit()
        done.set()

    threading.Thread(target=write).start()
    assert done.wait(5)
