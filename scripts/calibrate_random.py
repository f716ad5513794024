"""Measure the random-policy average total reward of every env preset (docs/environments.md).

    python scripts/calibrate_random.py --episodes 1000 --workers 1 \\
        --out docs/data/random_calibration.csv

Each (env, preset) is played with the same evaluator as the workflow's random baseline;
plays use seeds base_seed..base_seed+episodes-1. Rows are appended as each env finishes,
one per (env, preset, backend): ``--backend`` runs the presets on another implementation
(default: each preset's own; rows written before backends existed were PettingZoo's).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import pandas as pd

from psmarl import envs, results
from psmarl.evaluate import PolicySpec, evaluate, summarize


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=1_000_000)
    p.add_argument("--envs", nargs="+", default=envs.names())
    p.add_argument("--presets", nargs="+", default=["paper", "pettingzoo"])
    p.add_argument(
        "--backend",
        choices=["fast", "pettingzoo"],
        default=None,
        help="env implementation (default: the preset's)",
    )
    p.add_argument("--out", default="docs/data/random_calibration.csv")
    a = p.parse_args()
    out = Path(a.out)
    rows = pd.read_csv(out).to_dict("records") if out.exists() else []
    for r in rows:  # rows from before backends existed: PettingZoo's envs
        if not isinstance(r.get("backend"), str):
            r["backend"] = "pettingzoo"
    for name in a.envs:
        for preset in a.presets:
            settings = envs.resolve(name, preset, backend=a.backend)
            backend = envs.backend_of(settings)
            t0 = time.time()
            df = evaluate(
                settings,
                PolicySpec("random"),
                a.episodes,
                seed=a.seed,
                workers=a.workers,
                envs_per_worker=8,
                log=lambda m: None,
            )
            wall = time.time() - t0
            s = summarize(df["total_reward"])
            paper = envs.get(name).paper_random_return
            row = {
                "env": name,
                "preset": preset,
                "backend": backend,
                "episodes": s["episodes"],
                "mean": s["mean"],
                "std": s["std"],
                "ci95_low": s["ci95_low"],
                "ci95_high": s["ci95_high"],
                "mean_length": float(df["length"].mean()),
                "paper": paper,
                "base_seed": a.seed,
                "wall_seconds": round(wall, 1),
                "env_steps_per_s": round(df["length"].sum() / wall, 1),
                "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            }
            rows = [
                r for r in rows if (r["env"], r["preset"], r["backend"]) != (name, preset, backend)
            ] + [row]
            results.write_csv_atomic(out, pd.DataFrame(rows))
            print(
                f"{name:12s} {preset:10s} {backend:10s} mean {s['mean']:9.2f} "
                f"[{s['ci95_low']:.2f}, {s['ci95_high']:.2f}] paper {paper}  {wall:.0f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
