"""Shared by tests/test_containers.py and tests/test_slurm.py: set-up scripts, the reduced
tiny workflow and its local reference run (made once per pytest session)."""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, TINY, only_envs

SCRIPTS = REPO / "tests" / "cluster"
STANDIN_BIN = SCRIPTS / "bin"  # the podman stand-in for `apptainer`
BIN = Path(sys.executable).parent
# one env and one sharing mode of tests/data/tiny.yaml: every stage (6 jobs), a few minutes
ENV = "pursuit"
SHARING = "shared"


def run_script(name: str, *args: str, timeout: float = 900, env=None) -> str:
    """Run a set-up script; fail the test (never skip) when it cannot do its job."""
    r = subprocess.run(
        ["bash", str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if r.returncode != 0:
        pytest.fail(
            f"tests/cluster/{name} failed ({r.returncode}):\n{r.stderr[-4000:]}", pytrace=False
        )
    return r.stdout


def require_slurm_plugin() -> None:
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.fail(
            "snakemake-executor-plugin-slurm is not installed: install the `cluster` "
            "extra (scripts/setup.sh installs it with `dev`)",
            pytrace=False,
        )


def workflow_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(OMP_NUM_THREADS="1", SDL_VIDEODRIVER="dummy", RAY_DEDUP_LOGS="0")
    env.update(extra)
    return env


def write_config(path: Path, **overrides) -> Path:
    cfg = yaml.safe_load(TINY.read_text())
    only_envs(cfg, [ENV])
    cfg["sharing"] = [SHARING]
    cfg.update(overrides)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def snakemake(workdir: Path, configfile: Path, *args: str, env=None, timeout=900):
    cmd = [
        str(BIN / "snakemake"),
        "-s",
        str(REPO / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        *args,
    ]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env or workflow_env()
    )


_REFERENCE: dict[str, Path] = {}


def local_reference_run() -> Path:
    """The reduced tiny workflow run locally (`--cores 2`), once per session."""
    if "wd" not in _REFERENCE:
        wd = Path(tempfile.mkdtemp(prefix="psmarl-local-ref-"))
        atexit.register(shutil.rmtree, wd, ignore_errors=True)
        cfg = write_config(wd / "config.yaml")
        r = snakemake(wd, cfg, "--cores", "2")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
        _REFERENCE["wd"] = wd
    return _REFERENCE["wd"]


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


# What must match between two runs of the same config. Wall-clock columns differ by nature.
TIMING_COLUMNS = {"wall_seconds", "time_total_s", "time_this_iter_s", "timestamp"}


def assert_same_outputs(a: Path, b: Path, *, root: str = "results") -> None:
    """Every table of run b equals run a's (timing columns aside), every figure exists."""
    ra, rb = a / root, b / root
    csvs = sorted(p.relative_to(ra) for p in ra.rglob("*.csv"))
    assert csvs, f"no CSV outputs under {ra}"
    for rel in csvs:
        assert (rb / rel).exists(), f"{rel} missing from {rb}"
        da, db = pd.read_csv(ra / rel), pd.read_csv(rb / rel)
        keep = [c for c in da.columns if c not in TIMING_COLUMNS and "time" not in c]
        assert list(da.columns) == list(db.columns), rel
        pd.testing.assert_frame_equal(
            da[keep], db[keep], check_exact=False, rtol=1e-9, obj=str(rel)
        )
    for rel in sorted(p.relative_to(ra) for p in ra.rglob("summary.json")):
        ja, jb = json.loads((ra / rel).read_text()), json.loads((rb / rel).read_text())
        assert {k: v for k, v in ja.items() if "time" not in k} == {
            k: v for k, v in jb.items() if "time" not in k
        }, rel
    for fig in sorted(p.relative_to(ra) for p in (ra / "figures").glob("*")):
        assert (rb / fig).exists() and (rb / fig).stat().st_size > 1000, fig


# Training with a fixed seed is not bit-reproducible across runs (RLlib 2.60 sampling: two
# local runs of the same config differ in their returns), so two *separate* runs of the
# workflow are compared on everything that does not depend on the learned weights: the same
# files, columns and rows; the seeded random baseline and the theory exactly; each run's
# iteration/step/episode counts, evaluation seeds and episode lengths exactly.
SEEDED_COLUMNS = {
    "progress.csv": ["iteration", "env_steps", "episodes", "episode_len_mean"],
    "episodes.csv": ["episode", "seed", "length"],
    "summary.csv": [
        "env",
        "method",
        "sharing",
        "seed",
        "preset",
        "train_env_steps",
        "train_episodes",
        "eval_episodes",
        "random_mean",
        "random_ci95_low",
        "random_ci95_high",
    ],
    "learning_curves.csv": [
        "env",
        "method",
        "sharing",
        "seed",
        "iteration",
        "env_steps",
        "episodes",
    ],
}


# checkpoints, logs and TensorBoard event files (named by host and time) differ between runs
_UNSEEDED_PARTS = {"checkpoint", "logs", "tensorboard"}


def assert_same_seeded_outputs(a: Path, b: Path, *, root: str = "results") -> None:
    ra, rb = a / root, b / root
    files_a = sorted(
        str(p.relative_to(ra))
        for p in ra.rglob("*")
        if p.is_file() and not _UNSEEDED_PARTS & set(p.parts)
    )
    files_b = sorted(
        str(p.relative_to(rb))
        for p in rb.rglob("*")
        if p.is_file() and not _UNSEEDED_PARTS & set(p.parts)
    )
    assert files_a == files_b
    for rel in files_a:
        if not rel.endswith(".csv"):
            continue
        da, db = pd.read_csv(ra / rel), pd.read_csv(rb / rel)
        assert list(da.columns) == list(db.columns) and len(da) == len(db), rel
        if rel.startswith(("baselines/", "theory/")):
            cols = list(da.columns)
        elif Path(rel).name in SEEDED_COLUMNS:
            cols = [c for c in SEEDED_COLUMNS[Path(rel).name] if c in da.columns]
        else:  # statistics tables: their keys (text columns) and seed counts
            cols = [c for c in da.columns if da[c].dtype == object or c in ("seeds", "n_seeds")]
        pd.testing.assert_frame_equal(da[cols], db[cols], obj=rel)
    for rel in files_a:
        if rel.startswith("baselines/") and rel.endswith(".json"):
            assert json.loads((ra / rel).read_text()) == json.loads((rb / rel).read_text()), rel
