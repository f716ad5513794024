import os
import shutil
import sys
from pathlib import Path

import pytest

import psmarl  # noqa: F401  (its process defaults, e.g. loopback-only Ray, before Ray loads)

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny.yaml"
BIN = Path(sys.executable).parent
# workflow rules call the `psmarl` console script: make the one beside this Python visible
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"


def only_envs(config: dict, names) -> dict:
    """``config`` (changed in place) restricted to the envs ``names``: its ``envs`` and the
    ``per_env`` entries of its methods and training (validation rejects a per_env entry for
    an env that is not configured)."""
    config["envs"] = {e: config["envs"][e] for e in names}
    for section in [*(config.get("methods") or {}).values(), config.get("training") or {}]:
        if isinstance(section, dict) and section.get("per_env"):
            section["per_env"] = {e: v for e, v in section["per_env"].items() if e in names}
    return config


@pytest.fixture
def tiny_config():
    from psmarl import config as cfg

    return cfg.load(TINY)


@pytest.fixture
def psmarl_bin():
    exe = shutil.which("psmarl", path=str(BIN)) or shutil.which("psmarl")
    assert exe, "psmarl console script not installed (run scripts/setup.sh)"
    return exe


@pytest.fixture
def snakemake_bin():
    exe = shutil.which("snakemake", path=str(BIN)) or shutil.which("snakemake")
    assert exe, "snakemake not installed"
    return exe


def ensure_ray(num_cpus: int = 8) -> None:
    """One Ray session for every test that runs RLlib in-process.

    Logical CPUs (8 by default, on any machine): room for the Ape-X tests' remote runners
    (one CPU each). Remote workers see tests/ and src/ (the tiny tasks, psmarl itself).
    A session started with fewer CPUs (e.g. by psmarl.train in an earlier test) is restarted.
    """
    import ray

    if ray.is_initialized():
        if ray.cluster_resources().get("CPU", 0) >= num_cpus:
            return
        ray.shutdown()
    path = os.pathsep.join(
        [str(REPO / "tests"), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]
    )
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}},
    )


#: Test files that share the machine's podman images and Slurm daemons: one worker runs them,
#: one after another (they build the same image and start the same daemons).
CLUSTER_FILES = ("tests/test_containers.py", "tests/test_slurm.py")
#: The longest test groups, from the suite's recorded time per file (bench/RESULTS.md,
#: sections suite-*): test.sh's two workers start on them, so that none is left for last
#: while the other worker idles. Every other group follows in collection order.
LONGEST_FIRST = (
    "tests/test_workflow.py",
    "cluster",
    "tests/test_methods_dqn.py",
    "tests/test_methods_ddpg.py",
    "tests/reliability/test_training_run.py",
    "tests/test_intensity.py",
    "tests/test_train.py",
)


def test_group(nodeid: str) -> str:
    """The unit test.sh's workers run whole: a test file, or "cluster" for CLUSTER_FILES."""
    path = nodeid.split("::")[0]
    return "cluster" if path in CLUSTER_FILES else path


def pytest_collection_modifyitems(config, items):
    """The groups of LONGEST_FIRST first (test.sh keeps this order: --no-loadscope-reorder);
    within a group and among the rest, collection order."""
    rank = {g: i for i, g in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda it: rank.get(test_group(it.nodeid), len(rank)))


@pytest.hookimpl(tryfirst=True)  # before xdist's own scheduler for --dist loadfile
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` (test.sh, two workers) with CLUSTER_FILES as one unit: each test
    file runs whole on one worker, so its module fixtures (the tiny workflow run) are made
    once. (xdist's ``xdist_group`` marks would say this, but pytest 9 ignores the node ids
    xdist 3.8 rewrites for them.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return test_group(nodeid)

    return FileGroupScheduling(config, log)
