"""Aggregation of runs, evaluations and random baselines into tidy tables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from psmarl import results
from psmarl.errors import InputError
from psmarl.train import summarize_progress


def _require(paths: Sequence[Path]) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(
            f"{len(missing)} expected result file(s) are missing (did a run fail?): "
            + ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        )


def load_curves(root: str | Path, jobs: Sequence[tuple]) -> pd.DataFrame:
    """Tidy learning curves: one row per (run, iteration)."""
    root = Path(root)
    paths = [root / results.progress_csv(*j) for j in jobs]
    _require(paths)
    frames = []
    for (env, method, sharing, seed), p in zip(jobs, paths):
        df = pd.read_csv(p, usecols=lambda c: c in results.PROGRESS_COLUMNS)
        if df.empty:
            raise InputError(f"{p} has no iterations")
        df.insert(0, "seed", int(seed))
        df.insert(0, "sharing", sharing)
        df.insert(0, "method", method)
        df.insert(0, "env", env)
        frames.append(df)
    if not frames:
        raise InputError("no runs to aggregate")
    return pd.concat(frames, ignore_index=True)


def summary_table(root: str | Path, jobs: Sequence[tuple], envs: Sequence[str]) -> pd.DataFrame:
    root = Path(root)
    need = [root / results.train_summary_json(*j) for j in jobs]
    need += [root / results.eval_summary_json(*j) for j in jobs]
    need += [root / results.random_summary_json(e) for e in envs]
    _require(need)
    rand = {e: results.read_json(root / results.random_summary_json(e)) for e in envs}
    rows = []
    for env, method, sharing, seed in jobs:
        tr = results.read_json(root / results.train_summary_json(env, method, sharing, seed))
        ev = results.read_json(root / results.eval_summary_json(env, method, sharing, seed))
        prog = pd.read_csv(root / results.progress_csv(env, method, sharing, seed))
        best = summarize_progress(prog)
        r = rand.get(env, {})
        rows.append({
            "env": env, "method": method, "sharing": sharing, "seed": int(seed),
            "preset": tr.get("preset"),
            **best,
            "train_env_steps": tr.get("env_steps"), "train_episodes": tr.get("episodes"),
            "train_wall_seconds": tr.get("wall_seconds"),
            "eval_mean": ev["mean"], "eval_std": ev["std"],
            "eval_ci95_low": ev["ci95_low"], "eval_ci95_high": ev["ci95_high"],
            "eval_episodes": ev["episodes"],
            "random_mean": r.get("mean"), "random_ci95_low": r.get("ci95_low"),
            "random_ci95_high": r.get("ci95_high"),
        })
    return pd.DataFrame(rows, columns=results.SUMMARY_COLUMNS)


def aggregate(root: str | Path, jobs: Sequence[tuple], envs: Sequence[str],
              log: Callable[[str], None] | None = None) -> pd.DataFrame:
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    root = Path(root)
    summary = summary_table(root, jobs, envs)
    curves = load_curves(root, jobs)
    results.write_csv_atomic(root / results.CURVES_TABLE, curves)
    results.write_csv_atomic(root / results.SUMMARY_TABLE, summary)
    log(f"wrote {root / results.SUMMARY_TABLE} ({len(summary)} runs) and "
        f"{root / results.CURVES_TABLE} ({len(curves)} rows)")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        log(summary[["env", "method", "sharing", "seed", "best_avg_total_reward",
                     "eval_mean", "random_mean"]].to_string(index=False))
    return summary
