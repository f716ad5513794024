"""bench/suite_times.py: the suite's time per file from a ``--durations=0`` log (fast)."""

import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

import suite_times  # noqa: E402

LOG = """\
============================= slowest durations ==============================
444.10s call     tests/test_workflow.py::test_every_method_trains_and_evaluates
166.00s setup    tests/test_workflow.py::test_tiny_workflow_produces_every_output
2.50s call     tests/reliability/test_kills.py::test_kill[9]
0.40s teardown tests/reliability/test_kills.py::test_kill[9]
(12 durations < 0.005s hidden.  Use -vv to show these durations.)
=========== 875 passed, 2 warnings in 1234.56s (0:20:34) ===========
"""


def test_sums_call_setup_and_teardown_per_file():
    files = suite_times.per_file(LOG.splitlines())
    assert files == {
        "tests/test_workflow.py": pytest.approx(610.1),
        "tests/reliability/test_kills.py": pytest.approx(2.9),
    }


def test_reads_the_outcome_and_wall_time_from_pytests_last_line():
    assert suite_times.outcome(LOG.splitlines()) == ("875 passed, 2 warnings", 1234.56)
    failed = "==== 1 failed, 874 passed in 2063.01s (0:34:23) ====".splitlines()
    assert suite_times.outcome(failed) == ("1 failed, 874 passed", 2063.01)
    with pytest.raises(SystemExit, match="no pytest summary"):
        suite_times.outcome(["no summary here"])
