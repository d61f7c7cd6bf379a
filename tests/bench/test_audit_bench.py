"""What the audit hash chain costs: commits per second of a small write with and without an audit
record, with 1 and 6 concurrent writers (each on its own connection), on SQLite and PostgreSQL.

Run: `.venv/bin/pytest tests/bench/test_audit_bench.py --benchmark-enable -s` (with
JINGWU_TEST_POSTGRES_URL set for PostgreSQL). Each round is ``writers × EACH`` commits; the
commits/s figure is printed per case (``extra_info`` holds it too). On PostgreSQL the entries are
sealed after commit: the runtime's sealer runs through the rounds as on a server, and a round ends
only when every entry is sealed, so the figure includes the sealing.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import insert

from jingwu.api.runtime import Runtime
from jingwu.store import audit_chain
from jingwu.store import tables as t

EACH = 100


def _round(runtime: Runtime, writers: int, audited: bool) -> None:
    barrier = threading.Barrier(writers)

    def write(n: int) -> None:
        barrier.wait()
        for i in range(EACH):
            with runtime.deps.uow() as uow:
                uow.conn.execute(insert(t.idempotency_keys).values(
                    key=uuid.uuid4().hex, actor="bench", request_hash="h", incident_id="-",
                    created_at=runtime.deps.clock()))
                if audited:
                    uow.audit(at=runtime.deps.clock(), actor=f"writer-{n}", action="bench.write", detail={"i": i})
                uow.commit()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if audited and runtime.sealer is not None:
        runtime.sealer.seal_all()


@pytest.mark.parametrize("writers", [1, 6])
@pytest.mark.parametrize("audited", [False, True], ids=["plain", "audited"])
def test_commit_rate(benchmark: Any, runtime: Runtime, writers: int, audited: bool) -> None:
    if runtime.sealer is not None:
        runtime.sealer.start()
    benchmark.pedantic(_round, args=(runtime, writers, audited), rounds=5, iterations=1, warmup_rounds=1)
    with runtime.engine.connect() as conn:
        report = audit_chain.verify(conn)
    assert report.ok and report.unsealed == 0, report
    if benchmark.stats is None:  # benchmarks disabled: the round ran once as a smoke test
        return
    rate = writers * EACH / benchmark.stats.stats.median
    benchmark.extra_info["commits_per_s"] = round(rate)
    kind = "audited" if audited else "plain"
    print(f"\n{runtime.engine.dialect.name} writers={writers} {kind}: {rate:.0f} commits/s")
