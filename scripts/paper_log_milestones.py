#!/usr/bin/env python
"""Milestones of the paper's own training logs (its repository's plot/data/<env>/*.csv).

For each log with old RLlib's columns: its length (env steps, episodes), its maximum average
total reward and where, and the env steps and episodes at which its curve first reached
``random + FRACTION x (maximum - random)`` (the paper's random-policy returns: pursuit 31.04,
waterworld -6.82, multiwalker -102.05). config/learning_check.yaml takes its budgets from
this table. The logs stay in the paper's repository: pass a checkout or its git directory.

    python scripts/paper_log_milestones.py --paper-logs PATH [--fraction 0.25] [--out CSV]
"""

import argparse
import subprocess
import sys

import pandas as pd

from psmarl.errors import InputError
from psmarl.reproduction import read_paper_log

RANDOM = {"pursuit": 31.04, "waterworld": -6.82, "multi_walker": -102.05}
ENV = {"pursuit": "pursuit", "waterworld": "waterworld", "multi_walker": "multiwalker"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paper-logs", required=True, help="checkout or git dir of the paper's repo")
    ap.add_argument("--fraction", type=float, default=0.25)
    ap.add_argument("--out", default=None, help="also write the table as CSV")
    a = ap.parse_args()
    listing = subprocess.run(
        ["git", "--git-dir", a.paper_logs, "ls-tree", "-r", "--name-only", "HEAD", "plot/data"],
        capture_output=True,
        text=True,
    )
    if listing.returncode == 0:
        paths = listing.stdout.split()
    else:
        from pathlib import Path

        paths = [
            str(p.relative_to(a.paper_logs))
            for p in sorted(Path(a.paper_logs, "plot/data").glob("*/*.csv"))
        ]
    rows = []
    for path in paths:
        if not path.endswith(".csv"):
            continue
        env = path.split("/")[2]
        try:
            curve = read_paper_log(a.paper_logs, path)
        except (KeyError, pd.errors.EmptyDataError, InputError):
            continue  # not an RLlib log (digitised curves, MADDPG/QMIX), or over the
            # snapshot's 4 MiB file limit
        rnd = RANDOM[env]
        i = curve["avg_total_reward"].idxmax()
        top = float(curve.loc[i, "avg_total_reward"])
        target = rnd + a.fraction * (top - rnd)
        hit = curve[curve["avg_total_reward"] >= target]
        rows.append(
            {
                "env": ENV[env],
                "log": path,
                "last_env_steps": curve["env_steps"].iloc[-1],
                "last_episodes": curve["episodes"].iloc[-1],
                "max": round(top, 2),
                "env_steps_at_max": curve.loc[i, "env_steps"],
                "episodes_at_max": curve.loc[i, "episodes"],
                "random": rnd,
                "target": round(target, 2),
                "env_steps_to_target": hit["env_steps"].iloc[0] if len(hit) else None,
                "episodes_to_target": hit["episodes"].iloc[0] if len(hit) else None,
            }
        )
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(df.drop(columns=["random"]).to_string(index=False))
    if a.out:
        df.to_csv(a.out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
