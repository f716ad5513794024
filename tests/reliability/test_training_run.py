"""One small training run under attack (slow): its Ray listens on loopback only, a SIGKILL at
a random moment loses no iteration, the restart keeps the log of the first attempt, and a
job given fewer cores than its env runners ask for still trains (issue 18, defects 4, 5, 7).

One run serves all the tests of this module (a module fixture), since a training start is
the expensive part: ``psmarl train`` with 2 remote env runners on ``--cores 1`` (Ray gets 2
CPUs), killed with SIGKILL at a random moment after its first checkpoint, then started
again with an emptied log (what Snakemake does to a job's log at each start).
"""

import json
import os
import random
import signal
import time

import psutil
import pytest
from relhelpers import Watched, kill_tree, tree

from psmarl import config as cfg
from psmarl import results
from psmarl.ray_session import is_loopback

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

ITERATIONS = 6


def _sockets(pid: int) -> tuple[list[tuple[str, str, int]], list[str]]:
    """(process name, address, port) of every listening TCP socket and every bound,
    unconnected UDP socket of ``pid``'s process tree; and the tree's process names."""
    out, names = [], []
    for p in tree(pid):
        try:
            name = f"{p.name()}: {' '.join(p.cmdline())[:100]}"
            names.append(name)
            conns = p.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for c in conns:
            listening = c.status == psutil.CONN_LISTEN or (
                c.type == 2 and not c.raddr
            )  # SOCK_DGRAM, not connected
            if listening:
                out.append((name, c.laddr.ip, c.laddr.port))
    return out, names


@pytest.fixture(scope="module")
def attacked_run(tmp_path_factory, psmarl_bin_module):
    from conftest import TINY

    tmp = tmp_path_factory.mktemp("attacked")
    c = cfg.load(TINY)
    c["training"]["budget"] = {"iterations": ITERATIONS}
    c["training"]["checkpoint_every"] = 2
    c["training"]["runtime"] = {"num_cpus": 2, "num_env_runners": 2, "num_envs_per_env_runner": 1}
    spec = cfg.train_spec(c, "pursuit", "ppo", "shared", 0)
    run = tmp / "run"
    cmd = [
        psmarl_bin_module,
        "train",
        "--spec",
        json.dumps(spec),
        "--run-dir",
        str(run),
        "--cores",
        "1",
    ]
    out = {"run": run, "spec": spec}
    first = Watched(cmd)
    try:
        assert first.wait_for(r"^iter +1 ", timeout=600), first.stderr[-4000:]
        out["sockets"], out["processes"] = _sockets(first.proc.pid)
        meta = run / ".work" / "checkpoint" / results.RUN_META
        deadline = time.monotonic() + 600
        while not meta.exists() and first.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.proc.poll() is None, "training ended before it could be killed"
        seed = random.randrange(10**6)
        delay = random.Random(seed).uniform(0.0, 3.0)
        # at a random moment, but before the last iteration ends: a fast machine runs the
        # remaining iterations in less than the delay and would be killed after publishing
        # (that case: test_a_job_started_again_after_publishing_trains_nothing)
        t0 = time.monotonic()
        first.wait_for(rf"^iter +{ITERATIONS - 1} ", timeout=delay)
        delay = time.monotonic() - t0
        assert first.proc.poll() is None, "training ended before it could be killed"
        pids = [p.pid for p in tree(first.proc.pid)]
        os.killpg(first.proc.pid, signal.SIGKILL)
        out["kill"] = f"SIGKILL {delay:.2f} s after the first checkpoint (seed {seed})"
    finally:
        kill_tree(first.proc.pid)
        first.finish(timeout=60)
    for pid in pids:  # Ray's own processes die with the driver's process group
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            pass
    out["first_log"] = first.stderr
    # Snakemake deletes the job log before each start: the second attempt gets an empty one
    second = Watched(cmd)
    rc = second.finish(timeout=900)
    out["rc"], out["second_log"] = rc, second.stderr
    # started once more, the finished run has nothing to train
    third = Watched(cmd)
    out["third_rc"], out["third_log"] = third.finish(timeout=300), third.stderr
    return out


@pytest.fixture(scope="module")
def psmarl_bin_module():
    import shutil

    from conftest import BIN

    exe = shutil.which("psmarl", path=str(BIN)) or shutil.which("psmarl")
    assert exe
    return exe


def test_ray_listens_on_loopback_only(attacked_run):
    socks, procs = attacked_run["sockets"], attacked_run["processes"]
    text = "\n".join(f"{n}: {ip}:{port}" for n, ip, port in socks)
    # the run had its Ray processes and they listened (the test cannot pass vacuously)
    for expected in ("gcs_server", "raylet", "MultiAgentEnvRunner"):
        assert any(expected in p for p in procs), f"no {expected} process:\n" + "\n".join(procs)
    assert any("gcs_server" in n for n, _, _ in socks), text
    assert sum("MultiAgentEnvRunner" in n for n, _, _ in socks) >= 2, text
    exposed = [s for s in socks if not is_loopback(s[1])]
    assert not exposed, "listening beyond loopback:\n" + text
    assert not any(port == 8265 for _, _, port in socks), "the dashboard listens:\n" + text


def test_fewer_cores_than_runners_still_trains(attacked_run):
    assert (
        "note: the env runners ask for 2 CPUs but this job has 1 core(s)"
        in attacked_run["first_log"]
    )
    assert "2 env runner process(es) x 1 envs" in attacked_run["first_log"]


def test_a_kill_at_a_random_moment_loses_no_iteration(attacked_run):
    run = attacked_run["run"]
    assert attacked_run["rc"] == 0, attacked_run["second_log"][-4000:]
    assert "resumed from iteration" in attacked_run["second_log"], attacked_run["kill"]
    prog, summary = _read(run)
    assert list(prog["iteration"]) == list(range(1, ITERATIONS + 1)), attacked_run["kill"]
    assert prog["env_steps"].is_monotonic_increasing
    assert summary["iterations"] == ITERATIONS
    assert (run / "checkpoint" / results.RUN_META).exists() and not (run / ".work").exists()


def test_a_finished_run_started_again_trains_nothing(attacked_run):
    assert attacked_run["third_rc"] == 0, attacked_run["third_log"][-3000:]
    assert "already complete" in attacked_run["third_log"], attacked_run["third_log"][-3000:]
    assert not any(line.startswith("iter ") for line in attacked_run["third_log"].splitlines())
    prog, summary = _read(attacked_run["run"])
    assert list(prog["iteration"]) == list(range(1, ITERATIONS + 1))


def _read(run):
    summary = results.read_json(run / "train_summary.json", results.TRAIN_SUMMARY_KEYS)
    prog = results.read_csv(run / "progress.csv", results.PROGRESS_COLUMNS)
    results.check_progress(prog, summary, run / "progress.csv", run / "train_summary.json")
    return prog, summary


def test_the_restart_log_keeps_the_first_attempt(attacked_run):
    log = attacked_run["second_log"]
    lines = log.splitlines()
    assert lines[0].startswith("==== earlier attempts of this run"), lines[:3]
    first = [i for i, line in enumerate(lines) if "psmarl train: attempt 1 started" in line]
    second = [i for i, line in enumerate(lines) if "psmarl train: attempt 2 started" in line]
    assert len(first) == 1 and len(second) == 1 and first[0] < second[0], log[:3000]
    replay = lines[first[0] : second[0]]
    assert any(line.startswith("iter    1 ") for line in replay), "\n".join(replay)
    assert any(line.startswith("runtime: ") for line in replay)
    assert any(line.startswith("done: ") for line in lines[second[0] :])


def test_benchmarl_training_opens_no_socket(tmp_path, psmarl_bin_module):
    """MADDPG/QMIX (BenchMARL, through ``psmarl train`` as the train rule runs it) starts no
    Ray and listens nowhere."""
    from conftest import TINY

    from psmarl.dicts import deep_merge

    c = deep_merge(cfg.load(TINY), cfg.load(TINY.with_name("tiny.baselines.yaml")))
    c["training"]["budget"] = {"iterations": 50}
    spec = cfg.train_spec(c, "pursuit", "maddpg", "shared", 0)
    run = Watched(
        [
            psmarl_bin_module,
            "train",
            "--spec",
            json.dumps(spec),
            "--run-dir",
            str(tmp_path / "run"),
            "--cores",
            "1",
        ]
    )
    try:
        assert run.wait_for(r"^iter +2 ", timeout=600), run.stderr[-3000:]
        procs = tree(run.proc.pid)
        assert procs, "train ended before its sockets could be listed"
        conns = []
        for p in procs:
            try:
                conns += [(p.name(), c) for c in p.net_connections(kind="all")]
            except psutil.NoSuchProcess:
                pass
    finally:
        kill_tree(run.proc.pid)
        run.finish(timeout=60)
    assert conns == [], conns
