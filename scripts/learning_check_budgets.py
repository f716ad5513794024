#!/usr/bin/env python
"""The learning check's budgets (config/learning_check.yaml), from the paper's own logs.

The check (issue 15, part 2) trains every (env, method, sharing) of the paper grid for one
seed, at a budget per (env, method) "at which the paper's logs for that method are clearly
above the random policy, capped so that the whole check fits in about 6 hours of this
machine". This script computes both halves and writes one row per (env, method) to
``docs/data/learning_check_budgets.csv``:

- **where the paper's runs were clearly above random**: for each of the method's logs on
  the env (shared and independent; ``scripts/paper_logs.py`` finds them), the first env
  step from which the log's average total reward stays above the verdict's threshold
  (the paper's random return + psmarl's learning margin,
  ``psmarl.learning_check.LEARNING_MARGIN``) for :data:`SUSTAIN` logged iterations in a row;
  ``needed`` is the later of the two modes, times :data:`SLACK`, rounded up to 50k env
  steps. A log that never stays above it, or that the repository snapshot lacks, says so
  in ``reason`` and the budget falls back to the cap;
- **what the paper's runs had at that budget**: each mode's logged average total reward at
  its last iteration at or before the budget (``paper_<mode>_at_budget``), so that a run
  that does not learn in the check can be read beside the paper's at the same budget;
- **the cap**: estimated wall time per run = budget / estimated speed. The speeds are
  ``bench/results/cost_paper-grid-cost.csv``'s modelled laptop speeds (fast envs, 2 cores)
  scaled, per env, by PPO's measured speed over the model's: pursuit and waterworld from
  the fast-env benchmark's PPO training (``bench/results/fastenv_*.csv``, 500-step
  episodes), multiwalker from the one long run measured here (the multiwalker PPO
  reproduction, ``docs/reproduction/``: about 300 env steps/s once episodes are long; the
  benchmark's short early episodes ran faster). Each (env, method) gets at most
  ``--run-minutes`` per run (both modes get the same budget).

    .venv/bin/python scripts/learning_check_budgets.py \\
        --paper-logs /path/to/parametersharingmadrl[.git] [--run-minutes 7]

prints the table and the estimated total, writes the CSV, and prints the ``methods:``
budgets for config/learning_check.yaml (``tests/test_learning_check_config.py`` checks that
the config holds the CSV's budgets). The estimate is only that: the check's own throughput
table (``psmarl learning-check``) records each run's wall time.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from paper_logs import Repo, _logs  # noqa: E402

from psmarl import envs as psenvs  # noqa: E402
from psmarl.learning_check import LEARNING_MARGIN  # noqa: E402

OUT = ROOT / "docs" / "data" / "learning_check_budgets.csv"
COST = ROOT / "bench" / "results" / "cost_paper-grid-cost.csv"
#: logged iterations in a row the paper's curve must stay above the threshold
SUSTAIN = 5
#: the budget is this multiple of where the paper's later mode got there
SLACK = 1.25
STEP = 50_000
#: at least this many env steps (every method gets past its warm-up)
FLOOR = 100_000
#: multiwalker PPO measured here (docs/reproduction: iterations 200-260 of shared seed 0,
#: 6400 env steps in 19-22 s on an otherwise idle 2-core machine, 2026-12-02)
MEASURED_MULTIWALKER_PPO = 300.0
#: the grid of config/paper.yaml (Section 4's 23 pairs) and the BenchMARL baselines
GRID = {
    "pursuit": ["ppo", "impala", "a2c", "trpo", "dqn", "rainbow", "apex_dqn"],
    "waterworld": ["ppo", "impala", "a2c", "trpo", "sac", "td3", "ddpg", "apex_ddpg"],
    "multiwalker": ["ppo", "impala", "a2c", "trpo", "sac", "td3", "ddpg", "apex_ddpg"],
}
#: Rainbow's logs have only training_iteration: old RLlib's rounds of 8 workers' complete
#: 500-step episodes were 4000 env steps (docs/fidelity.md, Rainbow's trained samples row)
RAINBOW_STEPS_PER_ITERATION = 4000
RAINBOW_LOGS = {"shared": "plot/data/pursuit/rainbow_dqn.csv"}


def measured_ppo() -> dict[str, tuple[float, str]]:
    """PPO's training speed on each env as measured on this machine, with its source."""
    out = {
        "multiwalker": (
            MEASURED_MULTIWALKER_PPO,
            "the multiwalker PPO reproduction, iterations 200-260 (docs/reproduction/)",
        )
    }
    for name in ("fastenv_fast-envs-pursuit-ppo.csv", "fastenv_fast-envs-ww-mw-ppo.csv"):
        df = pd.read_csv(ROOT / "bench" / "results" / name)
        for r in df[df["measure"] == "ppo training, shared"].itertuples():
            if r.env not in out:
                out[r.env] = (float(r.fast_steps_per_s), f"bench/results/{name} ({r.date})")
    return out


def speeds() -> dict[tuple[str, str], tuple[float, str]]:
    """Estimated training env steps/s per (env, method) on this machine: the cost model's
    speed, scaled per env by PPO's measured / modelled speed (see the module docstring)."""
    df = pd.read_csv(COST)
    df = df[df["env"] != "all"].dropna(subset=["laptop_cpu_hours_after", "env_steps_millions"])
    model = {
        (r.env, r.method): r.env_steps_millions * 1e6 / (r.laptop_cpu_hours_after / 2 * 3600)
        for r in df.itertuples()
    }
    ppo = measured_ppo()
    out = {}
    for (env, method), v in model.items():
        measured, source = ppo[env]
        scale = measured / model[(env, "ppo")]
        out[(env, method)] = (v * scale, f"model x {scale:.2f} (PPO: {source})")
    return out


def first_sustained(curve: pd.DataFrame, threshold: float) -> float | None:
    """The env steps of the first logged iteration from which the curve stays at or above
    ``threshold`` for :data:`SUSTAIN` iterations (None if it never does)."""
    above = (curve["avg_total_reward"] >= threshold).astype(int)
    run = above.rolling(SUSTAIN).sum()
    hit = run[run >= SUSTAIN]
    if hit.empty:
        return None
    return float(curve["env_steps"].iloc[hit.index[0] - SUSTAIN + 1])


def paper_curves(repo: Repo) -> dict[tuple[str, str, str], tuple[str, pd.DataFrame]]:
    """(env, method, sharing) -> (log path, env_steps / avg_total_reward)."""
    out = {}
    for env, method, sharing, candidates in _logs(repo.list()):
        for rel in candidates:
            text = repo.read(rel)
            if not text:
                continue
            df = pd.read_csv(io.StringIO(text))
            if "timesteps_total" not in df:
                continue
            out[(env, method, sharing)] = (
                rel,
                pd.DataFrame(
                    {
                        "env_steps": df["timesteps_total"].astype(float),
                        "avg_total_reward": df["episode_reward_mean"].astype(float),
                    }
                ),
            )
            break
    for sharing, rel in RAINBOW_LOGS.items():
        text = repo.read(rel)
        if text:
            df = pd.read_csv(io.StringIO(text))
            out[("pursuit", "rainbow", sharing)] = (
                rel + f" (x {RAINBOW_STEPS_PER_ITERATION} env steps per iteration)",
                pd.DataFrame(
                    {
                        "env_steps": df["training_iteration"].astype(float)
                        * RAINBOW_STEPS_PER_ITERATION,
                        "avg_total_reward": df["episode_reward_mean"].astype(float),
                    }
                ),
            )
    return out


def value_at(curve: pd.DataFrame, env_steps: float) -> float | None:
    """The log's average total reward at its last logged iteration at or before
    ``env_steps`` (None before its first)."""
    upto = curve[curve["env_steps"] <= env_steps]
    return None if upto.empty else round(float(upto["avg_total_reward"].iloc[-1]), 2)


def _round_up(x: float) -> int:
    return int(math.ceil(x / STEP) * STEP)


def budgets(paper_logs: str, run_minutes: float) -> pd.DataFrame:
    repo = Repo(paper_logs)
    curves = paper_curves(repo)
    speed = speeds()
    rows = []
    for env, methods in GRID.items():
        rnd = psenvs.get(env).paper_random_return
        threshold = rnd + LEARNING_MARGIN[env]
        for method in methods:
            est, est_source = speed[(env, method)]
            cap = max(STEP, int(est * run_minutes * 60 // STEP * STEP))
            found, notes, logs = {}, [], {}
            for sharing in ("shared", "independent"):
                got = curves.get((env, method, sharing))
                if got is not None:
                    logs[sharing] = got[1]
                if got is None:
                    notes.append(f"{sharing}: no log in the snapshot")
                    continue
                rel, curve = got
                at = first_sustained(curve, threshold)
                if at is None:
                    notes.append(
                        f"{sharing}: never {SUSTAIN} iterations above {threshold:.1f} "
                        f"(max {curve['avg_total_reward'].max():.1f}, {rel})"
                    )
                else:
                    found[sharing] = at
                    notes.append(f"{sharing}: above from {at / 1e6:.2f}M ({rel})")
            if found:
                later = max(found.values())
                needed = _round_up(later * SLACK)
                budget = max(FLOOR, min(needed, cap))
                modes = " and ".join(found) if len(found) == 2 else f"only the {next(iter(found))}"
                why = (
                    f"{modes} log stays above {threshold:.1f} from {later / 1e6:.2f}M "
                    f"(x {SLACK} = {needed / 1e6:.2f}M)"
                    + (f"; capped at about {run_minutes:g} min per run" if needed > cap else "")
                    + ("; raised to the floor" if budget == FLOOR and needed < FLOOR else "")
                )
            else:
                needed = None
                budget = max(FLOOR, cap)
                if method == "trpo":
                    lack = "the paper's TRPO curves are Gupta et al.'s, digitised: no run log"
                elif all("no log" in n for n in notes):
                    lack = "the paper's logs are missing from the repository snapshot"
                else:
                    lack = f"no log of the paper's stays above {threshold:.1f}"
                why = f"{lack}: the cap, about {run_minutes:g} min per run"
            rows.append(
                {
                    "env": env,
                    "method": method,
                    "threshold": round(threshold, 2),
                    "paper_shared_above_from": found.get("shared"),
                    "paper_independent_above_from": found.get("independent"),
                    "needed": needed,
                    "est_env_steps_per_s": round(est),
                    "speed_from": est_source,
                    "cap": cap,
                    "budget": int(budget),
                    # what the paper's own run had at this budget (same measure, same mode)
                    "paper_shared_at_budget": value_at(logs["shared"], budget)
                    if "shared" in logs
                    else None,
                    "paper_independent_at_budget": value_at(logs["independent"], budget)
                    if "independent" in logs
                    else None,
                    "est_minutes_per_run": round(budget / est / 60, 1),
                    "reason": why,
                    "logs": "; ".join(notes),
                }
            )
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--paper-logs", required=True, help="the paper's repository or its .git")
    ap.add_argument("--run-minutes", type=float, default=7.0, help="cap per run, estimated minutes")
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args(argv)
    df = budgets(a.paper_logs, a.run_minutes)
    pd.set_option("display.width", 250, "display.max_colwidth", 60)
    print(df.drop(columns=["logs"]).to_string(index=False))
    hours = 2 * df["est_minutes_per_run"].sum() / 60
    print(f"\nestimated training: {hours:.1f} h for {2 * len(df)} runs (both modes)")
    df.to_csv(a.out, index=False)
    print(f"wrote {a.out}\n\nmethods:")
    for method in dict.fromkeys(m for ms in GRID.values() for m in ms):
        sub = df[df["method"] == method]
        print(f"  {method}:\n    per_env:")
        for r in sub.itertuples():
            print(f"      {r.env}: {{budget: {{env_steps: {r.budget}}}}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
