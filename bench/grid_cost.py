"""The paper grid's compute, before and after psmarl's fast envs (issue 16): env steps,
laptop CPU hours and cluster GPU hours per (env, method), from measured speeds.

    .venv/bin/python bench/grid_cost.py          # after bench/fast_envs.py

Inputs (every number from a CSV under bench/results/ or from config/paper.yaml):

- the grid: config/paper.yaml's (env, method) pairs of the SISL games, each run for every
  seed and sharing mode, for the env's episode budget;
- env steps per episode: 500 on pursuit and waterworld (``max_cycles``; waterworld never
  ends earlier, pursuit only when every evader is caught, so this is an upper bound);
  multiwalker episodes end at a fall, so their length is the mean episode length of the
  paper's own training logs of that method (``EPISODE_LENGTH`` below, with the log files);
- "before" training speeds (PettingZoo's envs under SuperSuit's wrappers, idle machine):
  PPO from ``throughput_paper-ppo``, the off-policy methods from
  ``throughput_paper-methods-table4-rounds`` (today's runtime: 2 env-runner processes x 8
  envs); A2C, IMPALA and TRPO from ``experiments/throughput_paper-methods-2026-11-24-before``
  (the only measurement there is: the runtime before issue 9, sampling in the training
  process, so their hours are too high both before and after);
- the env's share of a training step and what the fast env saves: ``fastenv_fast-envs``
  (psmarl's wrapped fast env vs PettingZoo's under SuperSuit's wrappers, side by side).

Model. A run's wall time per env step is ``1/T`` (T: measured training env steps/s). Of it,
the env takes ``1/(k R)``: R is the wrapped env's speed in one process (the section's own
``raw_steps_per_s``), k the number of processes that step envs side by side (2 with today's
runtime, 1 when sampling in the training process). The fast env divides that part by the
measured speed-up r of the wrapped env: after = ``1/T - (1 - 1/r)/(k R)``. Everything else
(RLlib's runners, the learner) is unchanged. Laptop CPU hours = wall hours x 2 cores.
``fastenv_fast-envs`` checks the model on PPO: its predicted training speed-up beside the
measured one (``ppo_model_check`` rows).

Cluster GPU hours (config/paper.yaml's runtime: 8 env-runner processes x 8 envs, 9 CPUs, one
GPU per run) are a lower bound: the time the 8 runners need to sample the run's env steps
(GPU hours = that wall time, one GPU held per run; learner time not counted). A runner's
sampling rate is measured in ``fastenv_fast-envs`` (one process, 8 envs, PPO's module) on a
loaded machine; it is scaled to an idle one by the ratio of PettingZoo's wrapped env speed
idle (``throughput_paper-ppo``) to that speed in the same loaded run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from throughput import save_section

from psmarl import config as cfg

RESULTS = HERE / "results"
SISL = ("pursuit", "waterworld", "multiwalker")
EPISODE_STEPS = {"pursuit": 500, "waterworld": 500}
# multiwalker: mean env steps per episode over each run of the paper's training logs
# (timesteps_total / episodes_total at the end of plot/data/multi_walker/<file>.csv of the
# paper's repository, parametersharingmadrl/parametersharingmadrl); (shared, independent)
EPISODE_LENGTH = {
    "ppo": (434.6, 203.5),  # ppo1.csv, sa_ppo.csv
    "trpo": (434.6, 203.5),  # no log (its TRPO curves are Gupta et al.'s): PPO's
    "a2c": (116.1, 103.7),  # a2c.csv, sa_a2c.csv
    "impala": (111.7, 111.7),  # impala.csv, sa_impala.csv
    "sac": (84.4, 82.7),  # sac.csv, sa_sac.csv
    "ddpg": (85.0, 133.0),  # ddpg.csv, sa_ddpg.csv
    "td3": (55.1, 64.3),  # td3.csv, sa_td3.csv
    "apex_ddpg": (160.6, 175.1),  # apex_ddpg.csv, sa_apex_ddpg.csv
}
BEFORE = {  # method -> (CSV, column prefix, env-stepping processes k)
    "ppo": ("throughput_paper-ppo.csv", "train", 2),
    **{
        m: ("throughput_paper-methods-table4-rounds.csv", f"train_{m}", 2)
        for m in ("sac", "td3", "ddpg", "apex_ddpg", "dqn", "rainbow", "apex_dqn")
    },
    **{
        m: ("experiments/throughput_paper-methods-2026-11-24-before.csv", f"train_{m}", 1)
        for m in ("a2c", "impala", "trpo")
    },
}
LAPTOP_CORES = 2
WRAPPED, BEFORE_WRAPPED = "wrapped env", "wrapped env, SuperSuit's wrappers (before)"
SAMPLING = "env runner sampling (1 core, 8 envs)"


def fast_section(label: str) -> pd.DataFrame:
    """The rows of ``fastenv_<label>.csv``; ``a+b`` joins the sections of two runs (each env's
    rows come from one run, whose ratios were measured side by side)."""
    frames = []
    for one in label.split("+"):
        f = RESULTS / f"fastenv_{one}.csv"
        if not f.exists():
            raise SystemExit(f"{f} is missing: run bench/fast_envs.py first")
        frames.append(pd.read_csv(f))
    df = pd.concat(frames, ignore_index=True)
    if df.duplicated(["env", "measure"]).any():
        raise SystemExit(f"{label}: an (env, measure) appears in more than one section")
    return df.set_index(["env", "measure"])


def speedups(fast: pd.DataFrame) -> dict[str, float]:
    """Per env: psmarl's wrapped fast env over PettingZoo's under SuperSuit's wrappers."""
    return {
        e: fast.loc[(e, WRAPPED), "fast_steps_per_s"]
        / fast.loc[(e, BEFORE_WRAPPED), "pettingzoo_steps_per_s"]
        for e in SISL
    }


def after_speed(train: float, raw: float, k: int, r: float) -> float:
    """Training env steps/s once the env part of a step is r times faster (module doc)."""
    return 1.0 / (1.0 / train - (1.0 - 1.0 / r) / (k * raw))


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "fast-envs"
    c = cfg.load(HERE.parent / "config" / "paper.yaml")
    fast = fast_section(label)
    r = speedups(fast)
    runs = len(c["seeds"])  # per sharing mode
    runners = int(c["training"]["runtime"]["num_env_runners"])
    cpus = int(c["training"]["runtime"]["num_cpus"])
    ppo_idle = pd.read_csv(RESULTS / "throughput_paper-ppo.csv").set_index("env")
    rows = []
    for env in SISL:
        episodes = cfg.budget(c, env)["episodes"]
        # one runner's sampling rate, scaled from the loaded run to an idle machine
        load = (
            ppo_idle.loc[env, "raw_steps_per_s"]
            / fast.loc[(env, BEFORE_WRAPPED), "pettingzoo_steps_per_s"]
        )
        s_after = fast.loc[(env, SAMPLING), "fast_steps_per_s"] * load
        # before: PettingZoo's env under SuperSuit's wrappers in the same runner
        s_pz = fast.loc[(env, SAMPLING), "pettingzoo_steps_per_s"] * load
        extra = (
            1 / fast.loc[(env, BEFORE_WRAPPED), "pettingzoo_steps_per_s"]
            - 1 / fast.loc[(env, WRAPPED), "pettingzoo_steps_per_s"]
        )
        s_before = 1 / (1 / s_pz + extra / load)
        for method in c["methods"]:
            if env not in cfg.method_envs(c, method):
                continue
            csv, prefix, k = BEFORE[method]
            src = pd.read_csv(RESULTS / csv).set_index("env")
            row = {"env": env, "method": method, "runs": 2 * runs}
            steps = hours_b = hours_a = 0.0
            for i, sharing in enumerate(("shared", "independent")):
                length = EPISODE_STEPS.get(env) or EPISODE_LENGTH[method][i]
                n = runs * episodes * length
                t_b = src.loc[env, f"{prefix}_{sharing}_steps_per_s"]
                t_a = after_speed(t_b, src.loc[env, "raw_steps_per_s"], k, r[env])
                steps += n
                hours_b += n / t_b / 3600
                hours_a += n / t_a / 3600
            row["env_steps_millions"] = steps / 1e6
            row["laptop_cpu_hours_before"] = hours_b * LAPTOP_CORES
            row["laptop_cpu_hours_after"] = hours_a * LAPTOP_CORES
            row["laptop_after_vs_before"] = hours_b / hours_a
            row["cluster_gpu_hours_before"] = steps / (runners * s_before) / 3600
            row["cluster_gpu_hours_after"] = steps / (runners * s_after) / 3600
            row["cluster_cpu_hours_before"] = row["cluster_gpu_hours_before"] * cpus
            row["cluster_cpu_hours_after"] = row["cluster_gpu_hours_after"] * cpus
            row["before_from"] = csv.removesuffix(".csv")
            rows.append(row)
    df = pd.DataFrame(rows)
    total = {"env": "all", "method": "all", "runs": df.runs.sum()}
    for col in df.columns:
        if col.endswith(("_millions", "_before", "_after")) and "_vs_" not in col:
            total[col] = df[col].sum()
    total["laptop_after_vs_before"] = (
        total["laptop_cpu_hours_before"] / total["laptop_cpu_hours_after"]
    )
    rows.append(total)
    # the model against the measured PPO speed-up (both backends under psmarl's wrappers)
    for env in SISL:
        raw = fast.loc[(env, WRAPPED), "pettingzoo_steps_per_s"]
        r_new = fast.loc[(env, WRAPPED), "fast_vs_pettingzoo"]
        for sharing in ("shared", "independent"):
            key = (env, f"ppo training, {sharing}")
            if key not in fast.index:
                continue
            t_pz = fast.loc[key, "pettingzoo_steps_per_s"]
            predicted = after_speed(t_pz, raw, 2, r_new) / t_pz
            rows.append(
                {
                    "env": env,
                    "method": f"ppo_model_check_{sharing}",
                    "model_after_vs_before": predicted,
                    "measured_after_vs_before": fast.loc[key, "fast_vs_pettingzoo"],
                }
            )
    note = (
        "Computed by bench/grid_cost.py (its docstring gives the model) from config/paper.yaml "
        f"({runs} seeds x 2 sharing modes per pair) and the measured speeds of the CSVs named "
        "in before_from and fastenv_" + label + ". Env steps are totals over the runs of a "
        "pair. Laptop: 2-core runs with config/config.yaml's runtime, CPU hours = wall x 2. "
        "Cluster: lower bound (8 env runners sampling; learner time on the GPU not counted). "
        "A2C, IMPALA and TRPO were measured with the runtime before issue 9 (sampling in the "
        "training process), slower than today's. ppo_model_check rows: the model's PPO "
        "training speed-up against the one measured side by side (both backends under "
        "psmarl's wrappers)."
    )
    save_section(rows, "cost", "paper-grid-cost", note, digits=3)


if __name__ == "__main__":
    main()
