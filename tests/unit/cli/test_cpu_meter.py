"""The intake benchmark's CPU accounting: a process tree's seconds, a named server's, and refusal to
report a difference that processes exiting would falsify."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from jingwu.cli.cpu_meter import CpuMeter, _spent, named_cpu_s, tree_cpu_s

STATS = {
    1: ("init", 0, 5.0),
    10: ("python", 1, 1.0),  # the server's master
    11: ("python", 10, 2.0),  # its workers
    12: ("python", 10, 3.0),
    13: ("python", 11, 0.5),  # a grandchild
    20: ("postgres", 1, 4.0),
    21: ("postgres", 20, 6.0),
    30: ("python", 1, 100.0),  # another program
}


def test_a_tree_counts_the_root_and_every_descendant_only() -> None:
    assert tree_cpu_s(10, STATS) == pytest.approx(6.5)
    assert tree_cpu_s(12, STATS) == pytest.approx(3.0)
    assert tree_cpu_s(99, STATS) == 0.0  # gone


def test_a_named_server_counts_all_its_processes() -> None:
    assert named_cpu_s("postgres", STATS) == pytest.approx(10.0)
    assert named_cpu_s("mysqld", STATS) == 0.0


def test_a_shrinking_sum_is_not_reported() -> None:
    assert _spent(1.0, 3.5) == pytest.approx(2.5)
    assert _spent(3.5, 1.0) is None  # a process that had spent CPU exited meanwhile
    assert _spent(None, 1.0) is None and _spent(1.0, None) is None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_the_meter_sees_a_busy_child_process_and_this_one() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nt = time.process_time()\n"
         "while time.process_time() - t < 0.6: pass\nprint('done', flush=True)\ntime.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    try:
        meter = CpuMeter(child.pid)
        meter.start()
        t = time.process_time()
        while time.process_time() - t < 0.2:
            pass
        assert child.stdout is not None and child.stdout.readline().strip() == "done"
        meter.stop()
    finally:
        child.kill()
        child.wait()
    assert meter.server_s is not None and 0.5 <= meter.server_s <= 2.0  # its 0.6 s loop, and start-up
    assert meter.client_s is not None and meter.client_s >= 0.2
    assert meter.database_s is None
