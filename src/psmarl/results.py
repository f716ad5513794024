"""The one place that defines run folders and file formats.

Layout under the results root (``results/`` by default)::

    runs/{env}/{method}/{sharing}/seed{seed}/
        progress.csv          one row per training iteration (PROGRESS_COLUMNS + module columns)
        checkpoint/           final RLlib checkpoint (+ psmarl_run.json)
        train_summary.json    what was trained, with which settings, for how long
        .work/                resumable state of an unfinished run (never a workflow output)
        tensorboard/          TensorBoard event files, written as the run trains
        eval/episodes.csv     one row per evaluation play (EPISODE_COLUMNS)
        eval/summary.json     mean, std, 95% CI of the plays
    baselines/random/{env}/episodes.csv, summary.json
    tables/summary.csv, learning_curves.csv       (psmarl aggregate)
    tables/marl_eval.json                         (psmarl marl-eval-export)
    tables/statistics.csv, sharing_differences.csv, probability_of_improvement.csv,
        paper_comparison.csv                      (psmarl statistics)
    figures/learning_curve_{env}.{ext}, figure{3,4,5}_{env}.{ext}, sharing_summary.{ext}
    figures/figure1_mailp.{png,pdf}, theory/mailp_bounds.csv   (psmarl theory)
    report/config.yaml                            (psmarl config-record)
    logs/{stage}/...

Outputs are written to a temporary name and renamed into place, so an interrupted stage
never leaves a file that a later run would take as finished.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

PROGRESS_COLUMNS = [
    "iteration",
    "env_steps",
    "episodes",
    "wall_seconds",
    "avg_total_reward",
]
EPISODE_COLUMNS = ["episode", "seed", "total_reward", "length"]
SUMMARY_COLUMNS = [
    "env", "method", "sharing", "seed", "preset",
    "best_avg_total_reward", "episodes_at_best", "final_avg_total_reward",
    "train_env_steps", "train_episodes", "train_wall_seconds",
    "eval_mean", "eval_std", "eval_ci95_low", "eval_ci95_high", "eval_episodes",
    "random_mean", "random_ci95_low", "random_ci95_high",
]
RUN_META = "psmarl_run.json"
#: a run's TensorBoard event files (psmarl.live_metrics), beside its outputs; not a
#: workflow output (written while the run trains, kept when it is published)
TENSORBOARD_DIR = "tensorboard"


# ---------------------------------------------------------------- paths (relative to root)
def run_dir(env: str, method: str, sharing: str, seed: int | str) -> str:
    return f"runs/{env}/{method}/{sharing}/seed{seed}"


def progress_csv(env, method, sharing, seed) -> str:
    return f"{run_dir(env, method, sharing, seed)}/progress.csv"


def checkpoint_dir(env, method, sharing, seed) -> str:
    return f"{run_dir(env, method, sharing, seed)}/checkpoint"


def train_summary_json(env, method, sharing, seed) -> str:
    return f"{run_dir(env, method, sharing, seed)}/train_summary.json"


def work_dir(env, method, sharing, seed) -> str:
    return f"{run_dir(env, method, sharing, seed)}/.work"


def eval_dir(env, method, sharing, seed) -> str:
    return f"{run_dir(env, method, sharing, seed)}/eval"


def eval_episodes_csv(env, method, sharing, seed) -> str:
    return f"{eval_dir(env, method, sharing, seed)}/episodes.csv"


def eval_summary_json(env, method, sharing, seed) -> str:
    return f"{eval_dir(env, method, sharing, seed)}/summary.json"


def random_dir(env: str) -> str:
    return f"baselines/random/{env}"


def random_episodes_csv(env) -> str:
    return f"{random_dir(env)}/episodes.csv"


def random_summary_json(env) -> str:
    return f"{random_dir(env)}/summary.json"


SUMMARY_TABLE = "tables/summary.csv"
CURVES_TABLE = "tables/learning_curves.csv"
#: every evaluation in marl-eval's JSON structure (psmarl.exports)
MARL_EVAL_JSON = "tables/marl_eval.json"
STATISTICS_TABLE = "tables/statistics.csv"
DIFFERENCES_TABLE = "tables/sharing_differences.csv"
IMPROVEMENT_TABLE = "tables/probability_of_improvement.csv"
PAPER_TABLE = "tables/paper_comparison.csv"
MISSING_TABLE = "tables/missing_runs.csv"
THEORY_TABLE = "theory/mailp_bounds.csv"
CONFIG_RECORD = "report/config.yaml"


def learning_curve_figure(env: str, ext: str) -> str:
    return f"figures/learning_curve_{env}.{ext}"


def paper_figure(figure: int | str, env: str, ext: str) -> str:
    """The paper's Figure 3, 4 or 5 of one env."""
    return f"figures/figure{figure}_{env}.{ext}"


def sharing_summary_figure(ext: str) -> str:
    return f"figures/sharing_summary.{ext}"


def theory_figure(ext: str) -> str:
    """Figure 1 of the paper (MAILP theory)."""
    return f"figures/figure1_mailp.{ext}"


def log_file(stage: str, *parts: Any) -> str:
    return "logs/" + stage + "/" + "/".join(str(p) for p in parts) + ".log"


def root_of(path: str | os.PathLike, rel: str) -> str:
    """The results root of ``path``, a file at layout path ``rel`` under it (the workflow
    derives a job's ``--root`` from its own input or output files this way)."""
    p, r = Path(path).as_posix(), Path(rel).as_posix()
    if p == r:
        return "."
    if not p.endswith("/" + r):
        raise ValueError(f"{path} is not at the layout path {rel} of a results folder")
    return p[: -len(r) - 1]


# ---------------------------------------------------------------- atomic writers
def _tmp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    tmp = _tmp_beside(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: str | os.PathLike, obj: Mapping[str, Any]) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_csv_atomic(path: str | os.PathLike, df: pd.DataFrame) -> None:
    write_text_atomic(path, df.to_csv(index=False))


def replace_dir_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy directory ``src`` to ``dst`` so that ``dst`` appears complete or not at all."""
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        shutil.rmtree(tmp)
        shutil.copytree(src, tmp)
        if dst.exists():
            old = dst.with_name(f".{dst.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_checkpoint_atomic(target: str | os.PathLike, fill: Callable[[Path], None],
                            meta: Mapping[str, Any]) -> None:
    """Replace checkpoint folder ``target``: ``fill(tmp)`` writes the files into a fresh
    sibling folder, psmarl's ``RUN_META`` is written last (its presence marks the checkpoint
    complete), then the folders are swapped, so ``target`` is always a whole checkpoint."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fill(tmp)
    write_json_atomic(tmp / RUN_META, meta)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    with open(path) as fh:
        return json.load(fh)


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
