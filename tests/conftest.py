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
