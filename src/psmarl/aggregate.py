"""Aggregation of runs, evaluations and random baselines into tidy tables, the statistics
over seeds (``psmarl.stats``) and the comparison with the paper's reported numbers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import resources as _resources
from pathlib import Path
from typing import Any

import pandas as pd

from psmarl import results
from psmarl.errors import InputError
from psmarl.results import (  # noqa: F401  (the tables' paths; results.py holds the layout)
    DIFFERENCES_TABLE,
    IMPROVEMENT_TABLE,
    MISSING_TABLE,
    PAPER_TABLE,
    STATISTICS_TABLE,
)
from psmarl.run_loop import summarize_progress

#: The envs of the paper's Section 4 (Figures 3-5); other envs have no paper numbers.
PAPER_ENVS = ("pursuit", "waterworld", "multiwalker")


def _label(job: Sequence) -> str:
    env, method, sharing, seed = job
    return f"{env}/{method}/{sharing}/seed{seed}"


def _require(paths: Sequence[Path]) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InputError(
            f"{len(missing)} expected result file(s) are missing (did a run fail?): "
            + ", ".join(missing[:10])
            + (" ..." if len(missing) > 10 else "")
        )


def run_files(job: Sequence) -> list[str]:
    """The files one run must have for the tables (relative to the results root)."""
    return [
        results.progress_csv(*job),
        results.train_summary_json(*job),
        results.eval_summary_json(*job),
    ]


def run_problem(root: str | Path, job: Sequence) -> tuple[list[str], str]:
    """Why one run cannot go into the tables: its missing files, or else the first damaged
    file with what is wrong (``psmarl.results`` checks); ([], "") for a complete run."""
    root = Path(root)
    gone = [f for f in run_files(job) if not (root / f).exists()]
    if gone:
        return gone, ""
    try:
        results.read_run_progress(root, job)
        results.read_json(root / results.eval_summary_json(*job), results.EVAL_SUMMARY_KEYS)
    except InputError as e:
        return [], str(e)
    return [], ""


def missing_runs(root: str | Path, jobs: Sequence[tuple]) -> pd.DataFrame:
    """One row per run with a missing or damaged result file: env, method, sharing, seed,
    missing (the missing files), damaged (the damaged file and what is wrong with it)."""
    rows = []
    for job in jobs:
        gone, damage = run_problem(root, job)
        if gone or damage:
            env, method, sharing, seed = job
            rows.append(
                {
                    "env": env,
                    "method": method,
                    "sharing": sharing,
                    "seed": int(seed),
                    "missing": " ".join(gone),
                    "damaged": damage,
                }
            )
    return pd.DataFrame(rows, columns=["env", "method", "sharing", "seed", "missing", "damaged"])


def check_runs(
    root: str | Path,
    jobs: Sequence[tuple],
    allow_missing: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[tuple]:
    """The jobs whose results are all there and intact. A missing or damaged run is an error
    naming every such run (and its files), unless ``allow_missing``: then they are logged,
    written to ``tables/missing_runs.csv`` and left out."""
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    if not jobs:
        raise InputError("no runs to aggregate: the config asks for no training run")
    gone = missing_runs(root, jobs)
    if gone.empty:
        return list(jobs)
    names = [
        f"{_label((r.env, r.method, r.sharing, r.seed))} "
        + (f"(missing {r.missing})" if r.missing else f"(damaged: {r.damaged})")
        for r in gone.itertuples()
    ]
    if not allow_missing:
        raise InputError(
            f"{len(names)} of {len(jobs)} run(s) have missing or damaged results "
            "(did they fail?); rerun them, or pass --allow-missing to tabulate "
            "the rest: " + "; ".join(names)
        )
    results.write_csv_atomic(Path(root) / MISSING_TABLE, gone)
    log(
        f"WARNING: leaving out {len(names)} run(s) with missing or damaged results "
        f"(listed in {Path(root) / MISSING_TABLE}): " + "; ".join(names)
    )
    keep = {(r.env, r.method, r.sharing, int(r.seed)) for r in gone.itertuples()}
    kept = [j for j in jobs if (j[0], j[1], j[2], int(j[3])) not in keep]
    if not kept:
        raise InputError("every run has missing or damaged results; nothing to aggregate")
    return kept


def load_curves(root: str | Path, jobs: Sequence[tuple]) -> pd.DataFrame:
    """Tidy learning curves: one row per (run, iteration), each run's rows checked against
    its train summary (:func:`psmarl.results.read_run_progress`)."""
    root = Path(root)
    _require([root / results.progress_csv(*j) for j in jobs])
    frames = []
    for job in jobs:
        env, method, sharing, seed = job
        df, _ = results.read_run_progress(
            root, job, usecols=lambda c: c in results.PROGRESS_COLUMNS
        )
        if df.empty:
            raise InputError(f"{root / results.progress_csv(*job)} has no iterations")
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
    rand = {
        e: results.read_json(root / results.random_summary_json(e), results.RANDOM_SUMMARY_KEYS)
        for e in envs
    }
    rows = []
    for env, method, sharing, seed in jobs:
        prog, tr = results.read_run_progress(root, (env, method, sharing, seed))
        ev = results.read_json(
            root / results.eval_summary_json(env, method, sharing, seed), results.EVAL_SUMMARY_KEYS
        )
        best = summarize_progress(prog)
        r = rand.get(env, {})
        rows.append(
            {
                "env": env,
                "method": method,
                "sharing": sharing,
                "seed": int(seed),
                "preset": tr.get("preset"),
                **best,
                "train_env_steps": tr.get("env_steps"),
                "train_episodes": tr.get("episodes"),
                "train_wall_seconds": tr.get("wall_seconds"),
                "eval_mean": ev["mean"],
                "eval_std": ev["std"],
                "eval_ci95_low": ev["ci95_low"],
                "eval_ci95_high": ev["ci95_high"],
                "eval_episodes": ev["episodes"],
                "random_mean": r.get("mean"),
                "random_ci95_low": r.get("ci95_low"),
                "random_ci95_high": r.get("ci95_high"),
            }
        )
    return pd.DataFrame(rows, columns=results.SUMMARY_COLUMNS)


def aggregate(
    root: str | Path,
    jobs: Sequence[tuple],
    envs: Sequence[str],
    log: Callable[[str], None] | None = None,
    allow_missing: bool = False,
) -> pd.DataFrame:
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    root = Path(root)
    jobs = check_runs(root, [tuple(j) for j in jobs], allow_missing, log)
    summary = summary_table(root, jobs, envs)
    curves = load_curves(root, jobs)
    results.write_csv_atomic(root / results.CURVES_TABLE, curves)
    results.write_csv_atomic(root / results.SUMMARY_TABLE, summary)
    log(
        f"wrote {root / results.SUMMARY_TABLE} ({len(summary)} runs) and "
        f"{root / results.CURVES_TABLE} ({len(curves)} rows)"
    )
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        log(
            summary[
                [
                    "env",
                    "method",
                    "sharing",
                    "seed",
                    "best_avg_total_reward",
                    "eval_mean",
                    "random_mean",
                ]
            ].to_string(index=False)
        )
    return summary


# ---------------------------------------------------------------- statistics and the paper
def report_spec(config: Mapping[str, Any]) -> dict[str, Any]:
    """The slice of the config the statistics depend on: ``report.*`` and, per env, its
    preset and the settings changed over it (for "does the preset match the paper's")."""
    from psmarl.stats import check_spec

    rep = dict(config.get("report") or {})
    envs_info = {}
    for env, entry in (config.get("envs") or {}).items():
        entry = entry or {}
        changed = sorted((entry.get("kwargs") or {}).keys())
        changed += sorted(
            k for k in ("agent_indication", "pad_observations", "pad_actions") if k in entry
        )
        changed += sorted(f"options.{k}" for k in (entry.get("options") or {}))
        envs_info[env] = {"preset": entry.get("preset"), "changed": changed}
    return {"stats": check_spec(rep), "envs": envs_info}


def paper_reference() -> pd.DataFrame:
    """The paper's reported numbers (src/psmarl/data/paper_reference.csv), each with its source."""
    with _resources.files("psmarl").joinpath("data/paper_reference.csv").open() as fh:
        ref = pd.read_csv(fh, dtype={"sharing": str})
    ref["sharing"] = ref["sharing"].fillna("")
    return ref


def _preset_match(env: str, preset: str | None, changed: Sequence[str]) -> str:
    if env not in PAPER_ENVS:
        return ""
    if preset not in (None, "paper"):
        return "no"
    return "no" if changed else "yes"


def paper_comparison(
    summary: pd.DataFrame,
    stats: pd.DataFrame,
    envs_info: Mapping[str, Mapping[str, Any]] | None = None,
    reference: pd.DataFrame | None = None,
    spec: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """One row per (env, method, sharing) that we ran or the paper reports, for the envs run:
    the paper's number and episodes (text of Figures 3-5) and its repository's log maximum,
    each with its source; ours under the paper's definition (maximum of the training curve
    of the paper's measure, ``paper_best_avg_total_reward``: old RLlib's window over the
    runners it reported, Ape-X's last third; IQM over seeds with CI, and the largest over
    seeds, as one run of the paper; the episodes counted as the paper counted them); psmarl's
    every-runner measure beside it; our held-out evaluation; whether the env preset is the
    paper's. ``spec``: bootstrap settings (``report.*``)."""
    from psmarl.stats import iqm_interval

    ref = paper_reference() if reference is None else reference
    envs_info = envs_info or {}
    envs = list(dict.fromkeys(summary["env"]))
    ref = ref[ref["env"].isin(envs)]
    keys = [
        (r.env, r.method, r.sharing)
        for r in summary[["env", "method", "sharing"]].drop_duplicates().itertuples()
    ]
    for r in ref.itertuples():
        if r.method == "random":
            key = (r.env, "random", "")
        elif r.sharing == "":  # a baseline (MADDPG/QMIX): matches whatever sharing we ran it in
            ours = [k for k in keys if k[0] == r.env and k[1] == r.method]
            if ours:
                continue
            key = (r.env, r.method, "")
        else:
            key = (r.env, r.method, r.sharing)
        if key not in keys:
            keys.append(key)
    for env in envs:
        if (env, "random", "") not in keys:
            keys.append((env, "random", ""))

    def ref_row(env, method, sharing, kind):
        m = ref[
            (ref["env"] == env)
            & (ref["method"] == method)
            & (ref["source_type"] == kind)
            & ((ref["sharing"] == sharing) | (ref["sharing"] == ""))
        ]
        return m.iloc[0] if len(m) else None

    def st(env, method, sharing, measure):
        m = stats[
            (stats["env"] == env)
            & (stats["method"] == method)
            & (stats["sharing"] == sharing)
            & (stats["measure"] == measure)
        ]
        return m.iloc[0] if len(m) else None

    rows = []
    for env, method, sharing in keys:
        info = envs_info.get(env, {})
        preset = info.get("preset")
        runs = summary[
            (summary["env"] == env)
            & (summary["method"] == method)
            & (summary["sharing"] == sharing)
        ]
        if preset is None and len(summary[summary["env"] == env]):
            preset = summary[summary["env"] == env]["preset"].iloc[0]
        row: dict[str, Any] = {"env": env, "method": method, "sharing": sharing}
        for kind, prefix in (("paper", "paper"), ("repository", "repo")):
            r = ref_row(env, method, sharing, kind)
            row[f"{prefix}_quantity"] = None if r is None else r["quantity"]
            row[f"{prefix}_value"] = None if r is None else r["value"]
            row[f"{prefix}_episodes"] = (
                None if r is None or pd.isna(r["episodes"]) else int(r["episodes"])
            )
            row[f"{prefix}_source"] = None if r is None else r["source"]
            row[f"{prefix}_note"] = None if r is None or pd.isna(r["note"]) else r["note"]
        best = st(env, method, sharing, "best_training_average")
        ev = st(env, method, sharing, "eval_return")
        row["n_seeds"] = None if best is None else int(best["n_seeds"])
        maxima, at = _paper_measure_maxima(runs)
        point = lo = hi = None
        if len(maxima):
            point, lo, hi = iqm_interval(maxima, spec)
        row["ours_max_avg_total_reward_iqm"] = point
        row["ours_max_avg_total_reward_ci_low"] = lo
        row["ours_max_avg_total_reward_ci_high"] = hi
        row["ours_max_avg_total_reward_best_seed"] = float(maxima.max()) if len(maxima) else None
        row["ours_episodes_at_max_median"] = float(at.median()) if len(at) else None
        row["ours_all_runners_max_iqm"] = None if best is None else best["iqm"]
        if method == "random":
            r = summary[summary["env"] == env]["random_mean"]
            row["ours_eval_iqm"] = float(r.iloc[0]) if len(r) else None
            row["ours_eval_ci_low"] = row["ours_eval_ci_high"] = None
        else:
            row["ours_eval_iqm"] = None if ev is None else ev["iqm"]
            row["ours_eval_ci_low"] = None if ev is None else ev["ci_low"]
            row["ours_eval_ci_high"] = None if ev is None else ev["ci_high"]
        row["preset"] = preset
        row["settings_changed_over_preset"] = " ".join(info.get("changed", []))
        row["preset_matches_paper"] = _preset_match(env, preset, info.get("changed", []))
        rows.append(row)
    out = pd.DataFrame(rows)
    for col in ("paper_episodes", "repo_episodes", "n_seeds"):
        out[col] = out[col].astype("Int64")
    order = {"shared": 0, "independent": 1, "": 2}
    out["_m"] = out["method"].eq("random")
    out["_s"] = out["sharing"].map(order)
    out["_e"] = out["env"].map({e: i for i, e in enumerate(envs)})
    return (
        out.sort_values(["_e", "_m", "method", "_s"])
        .drop(columns=["_m", "_s", "_e"])
        .reset_index(drop=True)
    )


def _paper_measure_maxima(runs: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per seed: the maximum of the paper's measure and the (paper-counted) episodes where it
    was reached; psmarl's every-runner columns for a summary without them."""
    cols = ("paper_best_avg_total_reward", "paper_episodes_at_best")
    if not set(cols) <= set(runs.columns) or runs[cols[0]].isna().all():
        cols = ("best_avg_total_reward", "episodes_at_best")
    runs = runs.sort_values("seed")
    return runs[cols[0]].dropna().astype(float), runs[cols[1]].dropna().astype(float)


def statistics(
    root: str | Path,
    spec: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Read tables/summary.csv and write the statistics tables and the paper comparison."""
    from psmarl import stats as st

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    root = Path(root)
    spec = dict(spec or {})
    bs = st.check_spec(spec.get("stats"))
    path = root / results.SUMMARY_TABLE
    if not path.exists():
        raise InputError(f"{path} does not exist: run the aggregate stage first")
    summary = results.read_csv(path, results.SUMMARY_COLUMNS, dtype={"sharing": str})
    if summary.empty:
        raise InputError(f"{path} has no runs")
    out = {
        STATISTICS_TABLE: st.group_statistics(summary, bs),
        DIFFERENCES_TABLE: st.sharing_differences(summary, bs),
        IMPROVEMENT_TABLE: st.improvement_by_method(summary, bs),
    }
    out[PAPER_TABLE] = paper_comparison(summary, out[STATISTICS_TABLE], spec.get("envs"), spec=bs)
    few = out[STATISTICS_TABLE]
    few = few[few["n_seeds"] < 2][["env", "method", "sharing"]].drop_duplicates()
    if len(few):
        log(
            f"note: {len(few)} (env, method, sharing) group(s) have one seed, so no confidence "
            "interval (empty ci cells); add seeds to the config's `seeds` for intervals"
        )
    for rel, df in out.items():
        results.write_csv_atomic(root / rel, df)
        log(f"wrote {root / rel} ({len(df)} rows)")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        s = out[STATISTICS_TABLE]
        log(
            s[
                ["env", "method", "sharing", "measure", "n_seeds", "iqm", "ci_low", "ci_high"]
            ].to_string(index=False)
        )
    return out


def add_cli(add: Callable) -> None:
    """The ``psmarl statistics`` subcommand (registered by psmarl.cli)."""
    import json

    def run(a):
        spec = json.loads(a.spec) if a.spec else None
        if a.configfile:
            from psmarl import config as cfg

            spec = report_spec(cfg.load(a.configfile))
        statistics(a.root, spec)

    sp = add(
        "statistics",
        run,
        "IQM and bootstrap CIs over seeds, shared-minus-independent "
        "differences, probability of improvement, and the comparison with the paper",
        "Reads <root>/tables/summary.csv; writes tables/statistics.csv, "
        "sharing_differences.csv, probability_of_improvement.csv, paper_comparison.csv.",
    )
    sp.add_argument("--root", default="results", help="results folder")
    sp.add_argument(
        "--spec",
        default=None,
        help="JSON of psmarl.aggregate.report_spec(config) (bootstrap settings, env presets)",
    )
    sp.add_argument(
        "--configfile",
        default=None,
        help="take those settings from this config (instead of --spec)",
    )
