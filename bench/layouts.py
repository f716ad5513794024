"""Which process layout gets the most training done on this machine, side by side in one run.

For each env (paper preset) and the chosen config's PPO settings, times:

  one job, N cores      one training run with `num_cpus: N` and each listed runner layout
  N jobs, 1 core each   N training runs at once, each sampling in its own process
                        (what Snakemake does with `--cores N` and `num_cpus: 1`)

and writes the env steps/s of each (for N jobs: their sum) with the ratio to the raw env
speed of one process, to bench/results/layouts_<label>.csv and bench/RESULTS.md. The first
answers "how fast is one run", the second "how fast does a grid of runs finish".

    .venv/bin/python bench/layouts.py --config config/paper.yaml --envs pursuit multiwalker
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from throughput import raw_speed, save_section, train_speed

from psmarl import config as cfg


def _spec(config_path: str, env: str, runtime: dict, seed: int):
    c = cfg.load(config_path)
    c.setdefault("methods", {}).setdefault("ppo", {})
    c["training"]["runtime"] = dict(runtime)
    return cfg.train_spec(c, env, "ppo", "shared", seed)


_START = None


def _init(barrier) -> None:
    global _START
    _START = barrier


def _one_job(args) -> float:
    config_path, env, runtime, seed, iterations = args
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    spec = _spec(config_path, env, runtime, seed)
    with tempfile.TemporaryDirectory() as tmp:
        # the timed part starts together (each job has built and warmed up its algorithm)
        sps, _, _ = train_speed(spec, iterations, Path(tmp), barrier=_START)
    return sps


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", default="config/paper.yaml")
    p.add_argument("--envs", nargs="+", default=["pursuit", "waterworld", "multiwalker"])
    p.add_argument("--cores", type=int, default=2)
    p.add_argument(
        "--envs-per-runner",
        type=int,
        nargs="+",
        default=[2, 8],
        help="num_envs_per_env_runner values to time for the one-job layout",
    )
    p.add_argument("--train-iterations", type=int, default=2)
    p.add_argument("--raw-steps", type=int, default=3000)
    p.add_argument("--label", default="layouts")
    p.add_argument("--note", default="")
    a = p.parse_args()
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    rows = []
    ctx = mp.get_context("spawn")
    for env in a.envs:
        c = cfg.load(a.config)
        raw = raw_speed(cfg.env_settings(c, env), a.raw_steps)
        print(f"{env}: raw {raw:.0f} steps/s", flush=True)
        layouts = [
            (
                f"1 job x {a.cores} cores, {a.cores} runners x {e} envs",
                {
                    "num_cpus": a.cores,
                    "num_env_runners": a.cores,
                    "num_envs_per_env_runner": e,
                    "num_gpus": 0,
                },
                1,
            )
            for e in a.envs_per_runner
        ]
        layouts.append(
            (
                f"{a.cores} jobs x 1 core, in-process x 4 envs",
                {"num_cpus": 1, "num_env_runners": 0, "num_envs_per_env_runner": 4, "num_gpus": 0},
                a.cores,
            )
        )
        for name, runtime, jobs in layouts:
            # each layout in fresh processes (own Ray, own RSS): jobs started together
            with ctx.Pool(
                jobs, initializer=_init, initargs=(ctx.Barrier(jobs),), maxtasksperchild=1
            ) as pool:
                sps = pool.map(
                    _one_job,
                    [(a.config, env, runtime, s, a.train_iterations) for s in range(jobs)],
                    chunksize=1,
                )
            total = sum(sps)
            rows.append(
                {
                    "env": env,
                    "layout": name,
                    "raw_steps_per_s": raw,
                    "steps_per_s": total,
                    "ratio": total / raw,
                }
            )
            print(f"{env}: {name}: {total:.0f} steps/s ({total / raw:.2f} x raw)", flush=True)
    save_section(rows, "layouts", a.label, a.note)


if __name__ == "__main__":
    main()
