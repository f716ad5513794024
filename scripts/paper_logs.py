#!/usr/bin/env python
"""What the paper's own training logs say about how its runs trained and measured.

Reads the RLlib logs of github.com/parametersharingmadrl/parametersharingmadrl (a clone, or
its bare git directory: files are read with ``git show HEAD:<path>``) and writes one row
per run log to ``docs/data/paper_logs.csv``:

- ``trained_per_sampled``: ``info/num_steps_trained / info/num_steps_sampled`` at the end
  of the run: trained samples (replayed or on-policy, counted as old RLlib counted them: a
  replay batch of ``train_batch_size`` counts ``train_batch_size`` whatever the number of
  policies) per sampled env step. psmarl's ``training_intensity`` (config/paper.yaml).
- ``env_steps_per_iteration``: the median ``timesteps_this_iter`` (PPO: the batch it
  trained on, 8 workers x 8 envs x 100 = 6400 where Table 1 says 5000).
- the maximum of ``episode_reward_mean`` and the episodes and env steps where it was
  reached; the env steps, trained samples and episodes at the run's end. For Ape-X these
  episodes are those of the last third of workers only (old RLlib's reporting rule,
  docs/fidelity.md).

Each row names its log (``log``) and the repository commit it was read at (``commit``).
Logs missing from the repository snapshot are listed with ``status`` naming why. The
repository is read, never copied: only these derived numbers (ratios, medians, maxima and
where they were reached, end-of-run totals) are written, never a log row.

    .venv/bin/python scripts/paper_logs.py --repo /path/to/parametersharingmadrl[.git]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT = REPO_ROOT / "docs" / "data" / "paper_logs.csv"

_METHODS = {
    "A2C": "a2c",
    "APEX_DQN": "apex_dqn",
    "APEX_DDPG": "apex_ddpg",
    "DDPG": "ddpg",
    "DQN": "dqn",
    "IMPALA": "impala",
    "PPO": "ppo",
    "RAINBOW_DQN": "rainbow",
    "SAC": "sac",
    "TD3": "td3",
}
_ENVS = ("pursuit", "waterworld", "multiwalker")
# runs whose ray_results log is missing from the snapshot but whose copy the plotting
# scripts read under plot/data (the same RLlib columns)
_PLOT_COPIES = {
    ("pursuit", "apex_dqn", "independent"): "plot/data/pursuit/sa_apex_best.csv",
    ("waterworld", "sac", "shared"): "plot/data/waterworld/sac.csv",
    ("waterworld", "td3", "shared"): "plot/data/waterworld/td3_1.csv",
}
COLUMNS = [
    "env",
    "method",
    "sharing",
    "log",
    "commit",
    "status",
    "iterations",
    "env_steps_at_end",
    "samples_trained_at_end",
    "trained_per_sampled",
    "env_steps_per_iteration",
    "episodes_at_end",
    "max_episode_reward_mean",
    "episodes_at_max",
    "env_steps_at_max",
]
_INTEGER = (
    "iterations",
    "env_steps_at_end",
    "samples_trained_at_end",
    "episodes_at_end",
    "episodes_at_max",
    "env_steps_at_max",
)


class Repo:
    """Files of the paper's repository at HEAD, from a work tree or a (bare) git dir."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        git_dir = self.path / ".git" if (self.path / ".git").exists() else self.path
        self.git = ["git", f"--git-dir={git_dir}"]

    def list(self) -> list[str]:
        out = subprocess.run(
            self.git + ["ls-tree", "-r", "--name-only", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.split()

    def commit(self) -> str:
        out = subprocess.run(
            self.git + ["rev-parse", "--short=7", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.strip()

    def read(self, rel: str) -> str | None:
        r = subprocess.run(self.git + ["show", f"HEAD:{rel}"], capture_output=True)
        return r.stdout.decode() if r.returncode == 0 and r.stdout else None


def _logs(files: list[str]) -> list[tuple[str, str, str, list[str]]]:
    """(env, method, sharing, candidate paths: the ray_results log, then a plot/data copy)."""
    runs: dict[tuple[str, str, str], list[str]] = {}
    for rel in files:
        parts = rel.split("/")
        if len(parts) != 4 or parts[0] != "ray_results" or parts[3] != "progress.csv":
            continue
        env, name = parts[1], parts[2]
        sharing = "independent" if name.startswith("SA_") else "shared"
        method = _METHODS.get(name.removeprefix("SA_"))
        if env in _ENVS and method:
            runs.setdefault((env, method, sharing), []).append(rel)
    for key, rel in _PLOT_COPIES.items():
        runs.setdefault(key, []).append(rel)
    return sorted((*k, v) for k, v in runs.items())


def summarize(text: str) -> dict:
    df = pd.read_csv(io.StringIO(text))
    row: dict = {"iterations": len(df)}
    last = df.iloc[-1]
    for col, key in (
        ("info/num_steps_sampled", "env_steps_at_end"),
        ("info/num_steps_trained", "samples_trained_at_end"),
        ("episodes_total", "episodes_at_end"),
    ):
        row[key] = int(last[col]) if col in df and pd.notna(last[col]) else None
    if row["env_steps_at_end"] and row["samples_trained_at_end"] is not None:
        row["trained_per_sampled"] = round(
            row["samples_trained_at_end"] / row["env_steps_at_end"], 4
        )
    if "timesteps_this_iter" in df:
        row["env_steps_per_iteration"] = float(df["timesteps_this_iter"].median())
    if "episode_reward_mean" in df and df["episode_reward_mean"].notna().any():
        i = df["episode_reward_mean"].idxmax()
        row["max_episode_reward_mean"] = round(float(df.loc[i, "episode_reward_mean"]), 4)
        for col, key in (
            ("episodes_total", "episodes_at_max"),
            ("timesteps_total", "env_steps_at_max"),
        ):
            if col in df:
                row[key] = int(df.loc[i, col])
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--repo", required=True, help="the paper's repository: a clone or its (bare) .git directory"
    )
    ap.add_argument("--out", default=str(OUT), help="CSV to write (default: %(default)s)")
    a = ap.parse_args(argv)
    repo = Repo(a.repo)
    rows, commit = [], repo.commit()
    for env, method, sharing, candidates in _logs(repo.list()):
        rel, text = candidates[0], None
        for rel in candidates:
            text = repo.read(rel)
            if text is not None:
                break
        row = {"env": env, "method": method, "sharing": sharing, "log": rel, "commit": commit}
        if text is None:
            row["status"] = "missing from the repository snapshot"
        else:
            try:
                row.update(summarize(text), status="ok")
            except (ValueError, KeyError, pd.errors.ParserError) as e:
                row["status"] = f"unreadable: {e}"
        rows.append(row)
    out = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for col in _INTEGER:
        out[col] = out[col].astype("Int64")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(a.out, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(
            out[
                [
                    "env",
                    "method",
                    "sharing",
                    "status",
                    "trained_per_sampled",
                    "env_steps_per_iteration",
                    "max_episode_reward_mean",
                    "episodes_at_max",
                    "env_steps_at_max",
                ]
            ].to_string(index=False),
            file=sys.stderr,
        )
    print(f"wrote {a.out} ({len(out)} logs)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
