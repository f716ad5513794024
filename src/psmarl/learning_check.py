"""The learning check: does every (env, method, sharing) of the paper grid learn?

One seed per run of config/paper.yaml's grid, each at a budget where the paper's own logs are
clearly above the random policy (config/learning_check.yaml; the budgets and their reasons:
scripts/learning_check_budgets.py). ``psmarl learning-check`` builds the table
(``docs/reproduction/learning_check.md`` and a CSV beside it) from the runs that
``psmarl keep-runs`` kept, without training: each run's best training average, its held-out
evaluation with CI (and the sampled-actions one, where measured), the random policy's mean,
the verdict, and its wall time and speed on the machine that ran it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from psmarl import results
from psmarl.errors import InputError
from psmarl.kept_runs import KEEP_AGAIN, MACHINE_JSON, RANDOM_KEYS, SAMPLED_EVAL
from psmarl.reproduction import ci_text, markdown_table, number_text
from psmarl.run_loop import SMOOTHING_EPISODES as WINDOW_EPISODES  # its window

#: "learns" means: the final checkpoint's held-out evaluation beats the random policy by at
#: least this margin, with its 95% CI above random + margin. The margin is 5% of the way from
#: the paper's random return to the best average total reward any of its runs logged on
#: that env (scripts/paper_log_milestones.py): pursuit (772.25 - 31.04), waterworld
#: (74.40 + 6.82), multiwalker (41.03 + 102.05).
LEARNING_MARGIN = {
    "pursuit": 0.05 * (772.25 - 31.04),
    "waterworld": 0.05 * (74.40 + 6.82),
    "multiwalker": 0.05 * (41.03 + 102.05),
}


def _paper_at_budget(budgets: str | Path | None) -> dict[tuple[str, str, str], float]:
    """(env, method, sharing) -> the paper's logged average at the check's budget (the
    budgets CSV's ``paper_<sharing>_at_budget``), where known."""
    if budgets is None or not Path(budgets).exists():
        return {}
    df = pd.read_csv(budgets)
    out = {}
    for sharing in ("shared", "independent"):
        col = f"paper_{sharing}_at_budget"
        if col in df:
            for r in df.dropna(subset=[col]).itertuples():
                out[(r.env, r.method, sharing)] = float(getattr(r, col))
    return out


def _last_logged(progress: pd.DataFrame) -> float:
    """The run's last logged training average in the paper's measure (its window over the
    runners old RLlib reported), psmarl's own where that column is empty."""
    for col in ("paper_avg_total_reward", "avg_total_reward"):
        if col in progress:
            logged = progress[col].dropna()
            if len(logged):
                return float(logged.iloc[-1])
    return float("nan")


def _verdict(ev: Mapping | None, rnd: Mapping | None, margin: float | None) -> str:
    """ "learns" when the evaluation's 95% CI lies above the random policy's mean plus the
    margin (and above the random policy's own CI)."""
    if ev is None or rnd is None or margin is None:
        return "not evaluated"
    if ev["ci95_low"] > max(rnd["mean"] + margin, rnd.get("ci95_high", rnd["mean"])):
        return "learns"
    return "does not learn at this budget"


def _above_idle(ev: Mapping | None, idle: Mapping | None) -> bool | None:
    """Whether an evaluation's 95% CI lies above the idle baseline's mean (None: either is
    missing)."""
    if ev is None or idle is None:
        return None
    return bool(ev["ci95_low"] > idle["mean"])


def _shown(verdict: str, above_idle: bool | None) -> str:
    """A verdict as the table prints it: a "learns" not above the idle policy says so."""
    return verdict + (", not above idle" if verdict == "learns" and above_idle is False else "")


def _greedy_beside(verdict_by: str, verdict: str, deterministic_verdict: str) -> str:
    """What the greedy actions alone say, after a verdict on sampled ones."""
    if verdict_by == "deterministic":
        return ""
    if verdict == deterministic_verdict:
        return f" ({verdict_by}; greedy too)"
    return f" ({verdict_by}; greedy: {deterministic_verdict})"


def _kept_json(path: Path, keys: tuple[str, ...]) -> dict | None:
    """A kept JSON file, checked for ``keys`` (its redo: keep the run again); None if absent."""
    return results.read_json(path, keys, KEEP_AGAIN) if path.exists() else None


def learning_check_table(
    data: str | Path,
    margins: Mapping[str, float] = LEARNING_MARGIN,
    budgets: str | Path | None = None,
) -> pd.DataFrame:
    """One row per kept run under ``data``: its best training average, its evaluations with
    CI (greedy actions, and sampled ones where measured), the random policy's mean, and the
    verdict (see :data:`LEARNING_MARGIN`, and :func:`_verdict`'s comment); with the
    budgets CSV, also the paper's logged average at the same budget, which a "does not
    learn" verdict is read beside (the paper's run was there by then, or not either)."""
    data = Path(data)
    paper_at_budget = _paper_at_budget(budgets)
    rows = []
    for summary in sorted(data.glob("runs/*/*/*/seed*/train_summary.json")):
        run = summary.parent
        env, method, sharing, seed = run.parts[-4:]
        df, s = results.read_progress(run / "progress.csv", summary, KEEP_AGAIN)
        curve = df.dropna(subset=["avg_total_reward"])
        # a full window (100 episodes) where the run has one: the first few episodes of a
        # barely trained policy are not a training average (DQN on pursuit: 87.1 over its
        # first 16, then about 30 from 100 on)
        full = curve[curve["episodes"] >= WINDOW_EPISODES]
        curve = full if len(full) else curve
        ev = _kept_json(run / "eval" / "summary.json", results.EVAL_SUMMARY_KEYS)
        sampled = _kept_json(run / SAMPLED_EVAL / "summary.json", results.EVAL_SUMMARY_KEYS)
        machine = _kept_json(run / MACHINE_JSON, ()) or {}
        rnd = _kept_json(data / results.random_summary_json(env), RANDOM_KEYS)
        idle = _kept_json(data / results.baseline_summary_json("idle", env), RANDOM_KEYS)
        margin = margins.get(env)
        # the paper's own run (same mode) at this budget, and was it above the same bar?
        paper = float(paper_at_budget.get((env, method, sharing), float("nan")))
        row = {
            "env": env,
            "method": method,
            "sharing": sharing,
            "seed": int(seed.removeprefix("seed")),
            "env_steps": s.get("env_steps"),
            "episodes": s.get("episodes"),
            "wall_hours": (s.get("wall_seconds") or 0) / 3600,
            "env_steps_per_s": s["env_steps"] / s["wall_seconds"]
            if s.get("env_steps") and s.get("wall_seconds")
            else float("nan"),
            "best_training_average": float(curve["avg_total_reward"].max())
            if len(curve)
            else float("nan"),
            # like for like with the paper's logged average at the budget: the same window
            # (psmarl.results' paper_avg_total_reward), the last one the run logged
            "training_average_at_budget": _last_logged(df),
            "eval_mean": ev["mean"] if ev else float("nan"),
            "eval_ci95_low": ev["ci95_low"] if ev else float("nan"),
            "eval_ci95_high": ev["ci95_high"] if ev else float("nan"),
            "eval_plays": ev["episodes"] if ev else 0,
            # the paper's play scripts sampled their actions (see the verdict below)
            "sampled_eval_mean": sampled["mean"] if sampled else float("nan"),
            "sampled_eval_ci95_low": sampled["ci95_low"] if sampled else float("nan"),
            "sampled_eval_ci95_high": sampled["ci95_high"] if sampled else float("nan"),
            "random_mean": rnd["mean"] if rnd else float("nan"),
            "random_ci95_high": rnd.get("ci95_high", float("nan")) if rnd else float("nan"),
            # every agent idle (psmarl idle-baseline): what keeping still scores
            "idle_mean": idle["mean"] if idle else float("nan"),
            "margin": margin,
            "paper_at_budget": paper,
            "machine": f"{machine.get('cpus', '?')} x {machine.get('cpu', '?')}",
        }
        # the verdict plays the policy as the method acts and the paper's play scripts
        # played it: sampled where the policy is a distribution psmarl samples (the
        # policy-gradient runs, evaluated so where evaluation.sampled_actions is on), the
        # greedy action otherwise; the deterministic plays' verdict is kept beside
        row["verdict_by"] = "sampled" if sampled else "deterministic"
        row["verdict"] = _verdict(sampled or ev, rnd, margin)
        row["deterministic_verdict"] = _verdict(ev, rnd, margin)
        row["above_idle"] = _above_idle(sampled or ev, idle)
        row["deterministic_above_idle"] = _above_idle(ev, idle)
        row["paper_above_at_budget"] = (
            bool(paper > rnd["mean"] + margin)
            if rnd is not None and margin is not None and np.isfinite(paper)
            else None
        )
        rows.append(row)
    if not rows:
        raise InputError(f"{data}: no kept runs (psmarl keep-runs copies finished runs here)")
    return pd.DataFrame(rows)


#: the learning check's budgets with their reasons (scripts/learning_check_budgets.py)
LEARNING_CHECK_BUDGETS = "docs/data/learning_check_budgets.csv"


def budget_lines(budgets: str | Path | None, table: pd.DataFrame) -> list[str]:
    """The section under the learning-check table: each checked (env, method)'s budget and
    why (from ``budgets``, the CSV of scripts/learning_check_budgets.py), beside the budget
    its runs had."""
    if budgets is None or not Path(budgets).exists():
        return []
    why = results.read_csv(
        budgets,
        ("env", "method", "budget", "reason"),
        "write it again: scripts/learning_check_budgets.py --paper-logs <the paper's repository>",
    )
    ran = table.groupby(["env", "method"])["env_steps"].max().to_dict()
    rows = [
        [
            r.env,
            r.method,
            f"{int(r.budget) / 1e6:.2f}M",
            f"{ran[(r.env, r.method)] / 1e6:.2f}M" if (r.env, r.method) in ran else "-",
            r.reason,
        ]
        for r in why.sort_values(["env", "method"]).itertuples()
    ]
    return [
        "## Budgets and why",
        "",
        f"From `{budgets}` (`scripts/learning_check_budgets.py`: where the paper's own logs "
        "stay above the random policy plus the margin, capped so that the whole check fits in "
        "about 6 hours of a 2-core machine). A run stops at the first iteration that reaches "
        "its budget.",
        "",
        markdown_table(["env", "method", "budget", "trained (env steps)", "why"], rows),
        "",
    ]


def _grid_coverage(budgets: str | Path | None, table: pd.DataFrame) -> str:
    """How much of the check the table covers: its runs against the budgets file's
    (env, method) pairs in both modes (a check is filled over several sittings)."""
    if budgets is None or not Path(budgets).exists():
        return ""
    grid = 2 * len(pd.read_csv(budgets))
    if len(table) >= grid:
        return ""
    return (
        f" The check has {grid} runs (both modes of each budget's pair): {grid - len(table)} to go."
    )


def write_learning_check(
    data: str | Path,
    out: str | Path,
    command: str = "",
    log: Callable[[str], None] = print,
    budgets: str | Path | None = None,
) -> pd.DataFrame:
    """``<out>`` (markdown) and ``<out>.csv`` from :func:`learning_check_table`, with the
    budgets' reasons under the table when ``budgets`` names their CSV."""
    table = learning_check_table(data, budgets=budgets)
    out = Path(out)
    results.write_csv_atomic(out.with_suffix(".csv"), table)
    rows = []
    for r in table.sort_values(["env", "method", "sharing"]).itertuples():
        rows.append(
            [
                r.env,
                r.method,
                r.sharing,
                f"{r.env_steps / 1e6:.2f}M",
                f"{r.wall_hours:.2f} h",
                number_text(r.env_steps_per_s, 0),
                number_text(r.best_training_average),
                ci_text(r.eval_mean, r.eval_ci95_low, r.eval_ci95_high, lambda v: f"{v:.1f}"),
                ci_text(
                    r.sampled_eval_mean,
                    r.sampled_eval_ci95_low,
                    r.sampled_eval_ci95_high,
                    lambda v: f"{v:.1f}",
                ),
                number_text(r.random_mean),
                f"{r.margin:.1f}",
                number_text(r.idle_mean),
                f"**{_shown(r.verdict, r.above_idle)}**"
                + _greedy_beside(
                    r.verdict_by,
                    _shown(r.verdict, r.above_idle),
                    _shown(r.deterministic_verdict, r.deterministic_above_idle),
                ),
                number_text(r.training_average_at_budget),
                "-"
                if not np.isfinite(r.paper_at_budget)
                else f"{r.paper_at_budget:.1f} ("
                + ("above" if r.paper_above_at_budget else "not above")
                + " random + margin)",
            ]
        )
    learns = table["verdict"] == "learns"
    n_learn = int(learns.sum())
    # "is False": runs without an idle baseline (None) are not counted as below it
    n_not_idle = int(sum(learns & table["above_idle"].map(lambda v: v is False)))
    text = [
        "# Learning check: every method of the paper grid, one seed",
        "",
        f"Generated by `{command or 'psmarl learning-check'}` from `{data}`. A run "
        "**learns** when the held-out evaluation of its final checkpoint (100 plays, 95% "
        "Student-t CI over plays) lies above the random policy's mean plus a "
        "margin of 5% of the way from the paper's random return to the best average any "
        "of its runs logged on that env (pursuit 37.1, waterworld 4.1, multiwalker 7.2). "
        '"Paper at this budget": the paper\'s own run of the same mode, its logged average '
        "total reward at the same env steps (a training average, not an evaluation), beside "
        "psmarl's run's last training average in the same measure (old RLlib's window): a "
        "run that does not learn where the paper's had not either points at the budget; one "
        "where the paper's had points at psmarl, unless psmarl's training average there is "
        "level with the paper's (then the two trained alike, and it is the held-out plays "
        'that fall short of the bar). "Best training average": the highest average total '
        'reward of the last 100 episodes the run logged once it had 100. "Idle mean": the '
        "same plays with every agent idle at every step (pursuit's 'stay', no thrust on "
        "waterworld, no torque on multiwalker; `psmarl idle-baseline`): where it clears the "
        'bar, a "learns" whose CI does not also lie above it is marked "not '
        'above idle": the policy may only have learnt to keep still.',
        "",
        f"{n_learn} of {len(table)} runs learn"
        + (f", {n_not_idle} of them not above idle" if n_not_idle else "")
        + "."
        + _grid_coverage(budgets, table),
        "",
        "Wall time and speed are each run's training alone (evaluation not counted), on "
        + "; ".join(sorted(set(table["machine"])))
        + " (CPUs x model), while other work may have shared the machine; its speed varies "
        "up to 3x from day to day. The verdict plays the policy-gradient methods (PPO, "
        "IMPALA, A2C, TRPO) as they act in training and as the paper's play scripts played "
        "them (`compute_single_action` without `explore=False`, which samples): "
        '"sampled eval", actions sampled from the policy (`evaluation.sampled_actions`), '
        "with the verdict on the greedy action alone beside it, in brackets. It plays the "
        'others with the greedy action ("eval"), the usual held-out measure. The paper\'s '
        "scripts left old RLlib's exploration on for them too (epsilon, weight or action "
        "noise, SAC's sampling), at a strength that depends on the schedule state the "
        "checkpoint restored; the exact RLlib wheel is not in the repository snapshot to "
        "check it, so that way of playing is not reproduced.",
        "",
        markdown_table(
            [
                "env",
                "method",
                "sharing",
                "env steps",
                "wall time",
                "env steps/s",
                "best training average",
                "eval mean [95% CI]",
                "sampled eval [95% CI]",
                "random mean",
                "margin",
                "idle mean",
                "verdict",
                "training average at the budget",
                "paper at this budget",
            ],
            rows,
        ),
        "",
    ]
    text += budget_lines(budgets, table)
    notes = Path(data) / "notes.md"
    if notes.exists():
        text += [notes.read_text().strip(), ""]
    results.write_text_atomic(out, "\n".join(text))
    log(f"wrote {out} and {out.with_suffix('.csv')}")
    return table


# ---------------------------------------------------------------- command line
def add_cli(add: Callable) -> None:
    """``psmarl learning-check`` (registered by psmarl.cli)."""

    def check(a):
        write_learning_check(
            a.data,
            a.out,
            command=f"psmarl learning-check --data {a.data} --out {a.out}",
            budgets=a.budgets,
        )

    sp = add(
        "learning-check",
        check,
        "the learning-check table from kept runs (no training)",
        "One row per kept run: best training average, held-out evaluation with CI, the "
        "random policy's mean and the verdict (learns / does not learn at this budget).",
    )
    sp.add_argument(
        "--data",
        default="docs/reproduction/learning_check",
        help="folder of kept runs (psmarl keep-runs --to ...)",
    )
    sp.add_argument(
        "--out",
        default="docs/reproduction/learning_check.md",
        help="the table to write (markdown; a .csv beside it)",
    )
    sp.add_argument(
        "--budgets",
        default=LEARNING_CHECK_BUDGETS,
        help="each (env, method)'s budget with its reason (scripts/learning_check_budgets.py); "
        "listed under the table when the file exists",
    )
