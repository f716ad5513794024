"""A Ray resource wait longer than the limit is reported in the job's log (issue 18,
defect 4), and psmarl's Ray session binds loopback (defect 5; the full socket listing of a
training run is in test_training_run.py)."""

import time

import pytest

from psmarl import ray_session

pytestmark = pytest.mark.reliability


@pytest.mark.parametrize(
    "address, loopback",
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.2", False),
        ("::ffff:192.0.2.2", False),
        ("fe80::1%eth0", False),
    ],
)
def test_is_loopback(address, loopback):
    assert ray_session.is_loopback(address) is loopback


@pytest.mark.slow
def test_a_resource_wait_is_reported_and_ends_with_the_wait():
    import ray
    from conftest import ensure_ray

    ensure_ray()

    @ray.remote(num_cpus=1000)
    class Greedy:
        def ping(self):
            return 1

    lines = []
    with ray_session.ResourceWaitReporter(
        lines.append, after=3.0, every=0.5, repeat=3600, hint="(test)"
    ) as rep:
        actor = Greedy.remote()
        deadline = time.monotonic() + 120
        while not rep.reports and time.monotonic() < deadline:
            time.sleep(0.5)
        ray.kill(actor)
    assert rep.reports == 1, lines
    assert lines[0].startswith("WARNING: Ray has waited ")
    assert "s for resources it cannot grant: 1 x {'CPU': 1000.0}" in lines[0]
    assert lines[0].endswith("Nothing runs until they free up. (test)")
