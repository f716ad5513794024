"""psmarl's fast SISL envs against PettingZoo's (issue 16), side by side in one run.

For each env (the `paper` preset's settings), with PettingZoo's backend and the fast one:

  raw        env steps/s of the bare parallel env (PettingZoo's ``parallel_env`` / psmarl's
             ``fast_sisl.<game>.parallel_env``), random actions drawn before the clock starts
  wrapped    the same under psmarl's wrappers (``envs.make_parallel_env``: flatten, agent id,
             the paper's options), what training and evaluation step
  supersuit  the same under SuperSuit's wrappers (psmarl's stack until issue 16: a
             parallel -> AEC -> parallel round trip; tests/test_wrappers.py builds it)
  sampling   env steps/s of one RLlib env runner (8 envs, the [400,300] PPO module, one
             thread): the sampling rate of one core in training
  train      PPO (and any --methods) training env steps/s at the chosen config's settings
             and runtime, shared and independent (a warm-up iteration is not counted);
             also per CPU second of the training process and its env runners, which
             on a loaded machine says more than wall time: ``fast_vs_pettingzoo_raw_cpu``
             is 2 cores' worth of training (2 x steps per CPU second) over the raw
             PettingZoo env's steps per CPU second

Raw and wrapped speeds are measured in alternating rounds (PettingZoo, fast, PettingZoo, ...)
and the median round is kept, so a load change on a shared machine hits both alike; the
training runs of the two backends follow each other per env and method.

    .venv/bin/python bench/fast_envs.py --config config/paper.yaml --runtime-from config/config.yaml

Writes bench/results/fastenv_<label>.csv (one row per env and measure) and rewrites
bench/RESULTS.md (with the paper grid's compute before and after: bench/grid_cost.py).
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from throughput import bench_config, save_section

from psmarl import config as cfg
from psmarl import envs

BACKENDS = ("pettingzoo", "fast")


def action_tape(env, steps: int, seed: int) -> list[dict]:
    """``steps`` random joint actions for every possible agent, drawn before timing."""
    rng = np.random.default_rng(seed)
    spaces = {a: env.action_space(a) for a in env.possible_agents}
    tape = []
    for _ in range(steps):
        joint = {}
        for a, sp in spaces.items():
            if hasattr(sp, "n"):
                joint[a] = int(rng.integers(sp.n))
            else:
                joint[a] = rng.uniform(sp.low, sp.high).astype(sp.dtype)
        tape.append(joint)
    return tape


def supersuit_wrapped(settings):
    """The env under SuperSuit's wrappers, as psmarl built it before issue 16."""
    from test_wrappers import raw_env, supersuit_stack

    return supersuit_stack(
        raw_env(settings),
        settings["agent_indication"],
        settings["pad_observations"],
        settings["pad_actions"],
    )


def timed_steps(env, tape, seconds: float, seed: int) -> tuple[float, float]:
    """(env steps per wall second, per CPU second) of stepping ``env`` through ``tape``
    (repeated) for at least ``seconds``; episodes restart with seeds seed, seed+1, ..."""
    steps, episode = 0, 0
    w0, c0 = time.perf_counter(), time.process_time()
    while True:
        env.reset(seed=seed + episode)
        episode += 1
        while env.agents:
            joint = tape[steps % len(tape)]
            env.step({a: joint[a] for a in env.agents})
            steps += 1
            if steps % 50 == 0 and time.perf_counter() - w0 >= seconds:
                w, c = time.perf_counter() - w0, time.process_time() - c0
                return steps / w, steps / c


def stepping_speeds(settings, seconds: float, rounds: int) -> dict[str, float]:
    """Raw and wrapped env steps/s of both backends, alternating rounds, median kept."""
    spec = envs.get(settings["name"])
    makers = {}
    for b in BACKENDS:
        module = spec.fast_module if b == "fast" else spec.module
        kwargs = dict(settings["kwargs"])
        makers[("raw", b)] = lambda m=module, k=kwargs: importlib.import_module(m).parallel_env(**k)
        makers[("wrapped", b)] = lambda s=dict(settings, backend=b): envs.make_parallel_env(s)
        makers[("supersuit", b)] = lambda s=dict(settings, backend=b): supersuit_wrapped(s)
    built = {key: make() for key, make in makers.items()}
    tape = action_tape(built[("raw", "pettingzoo")], 2000, seed=0)
    wall: dict = {key: [] for key in built}
    cpu: dict = {key: [] for key in built}
    for r in range(rounds):
        for key, env in built.items():
            w, c = timed_steps(env, tape, seconds, seed=1000 * r)
            wall[key].append(w)
            cpu[key].append(c)
    for env in built.values():
        env.close()
    out = {}
    for kind, b in built:
        out[f"{kind}_{b}"] = statistics.median(wall[(kind, b)])
        out[f"{kind}_{b}_cpu"] = statistics.median(cpu[(kind, b)])
    return out


def sampling_speed(spec, steps: int) -> float:
    """Env steps/s of one in-process RLlib env runner (8 envs, one torch thread)."""
    import torch

    from psmarl.train import build_algorithm_config, start_processes

    spec = dict(spec, runtime={"num_cpus": 1, "num_env_runners": 0, "num_envs_per_env_runner": 8})
    config, _ = build_algorithm_config(spec)
    start_processes({"num_cpus": 2})
    torch.set_num_threads(1)
    algo = config.build_algo()
    runner = algo.env_runner
    runner.sample(num_timesteps=400)  # warm-up
    t0 = time.perf_counter()
    done = 0
    while done < steps:
        episodes = runner.sample(num_timesteps=min(1000, steps - done))
        done += sum(e.env_steps() for e in episodes)
    el = time.perf_counter() - t0
    algo.stop()
    return done / el


def train_speed(spec, iterations: int) -> tuple[float, float]:
    """(env steps per wall second, per CPU second) of training over ``iterations`` after
    one warm-up iteration, as bench/throughput.py times it, with RLlib's 60 s sampling
    timeout lifted (on a loaded machine a slow env's sampling round can pass it, and RLlib
    then drops the samples). CPU seconds: the training process (learner) and its env-runner
    processes together."""
    import psutil

    from psmarl.train import build_algorithm_config, resolve_runtime, start_processes

    config, _ = build_algorithm_config(spec)
    config.env_runners(sample_timeout_s=3600.0)
    start_processes(resolve_runtime(spec.get("runtime", {})))
    algo = config.build_algo()
    algo.train()  # warm-up
    pids = [os.getpid()] + list(
        algo.env_runner_group.foreach_env_runner(lambda runner: os.getpid(), local_env_runner=False)
    )
    procs = [psutil.Process(pid) for pid in pids]

    def cpu() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in procs)

    steps, t0, c0 = 0, time.perf_counter(), cpu()
    for _ in range(iterations):
        steps += int(algo.train()["env_runners"]["num_env_steps_sampled"])
    el, cpu_s = time.perf_counter() - t0, cpu() - c0
    algo.stop()
    return steps / el, steps / cpu_s


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", default="config/paper.yaml")
    p.add_argument(
        "--runtime-from",
        default="config/config.yaml",
        help="take training.runtime from this config (the laptop runtime)",
    )
    p.add_argument("--runtime", nargs="+", default=[], metavar="KEY=VALUE")
    p.add_argument("--envs", nargs="+", default=["pursuit", "waterworld", "multiwalker"])
    p.add_argument("--seconds", type=float, default=4.0, help="per timed round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--sample-steps",
        type=int,
        default=3000,
        help="env steps per env-runner sampling timing (0: skip)",
    )
    p.add_argument(
        "--methods",
        nargs="*",
        default=["ppo"],
        help="methods to time training with (none given: no training runs)",
    )
    p.add_argument("--sharing", nargs="+", default=["shared", "independent"])
    p.add_argument("--train-iterations", type=int, default=2)
    p.add_argument("--label", default="fast-envs")
    p.add_argument("--note", default="")
    a = p.parse_args()
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    c = bench_config(a.config, a.runtime_from, a.runtime)

    rows = []

    def add(env, measure, speeds, raw_pz=None, raw_pz_cpu=None):
        row = {
            "env": env,
            "measure": measure,
            "pettingzoo_steps_per_s": speeds["pettingzoo"],
            "fast_steps_per_s": speeds["fast"],
            "fast_vs_pettingzoo": speeds["fast"] / speeds["pettingzoo"],
        }
        if "pettingzoo_cpu" in speeds:
            row["pettingzoo_steps_per_cpu_s"] = speeds["pettingzoo_cpu"]
            row["fast_steps_per_cpu_s"] = speeds["fast_cpu"]
            row["fast_vs_pettingzoo_cpu"] = speeds["fast_cpu"] / speeds["pettingzoo_cpu"]
        if raw_pz is not None:
            row["fast_vs_pettingzoo_raw"] = speeds["fast"] / raw_pz
        if raw_pz_cpu is not None:  # training on 2 cores kept busy, per CPU second of raw
            row["fast_vs_pettingzoo_raw_cpu"] = 2 * speeds["fast_cpu"] / raw_pz_cpu
        rows.append(row)
        print(
            f"{env}: {measure}: pettingzoo {speeds['pettingzoo']:.0f}, fast "
            f"{speeds['fast']:.0f} env steps/s ({row['fast_vs_pettingzoo']:.2f}x)",
            flush=True,
        )

    for env in a.envs:
        settings = cfg.env_settings(c, env)
        s = stepping_speeds(settings, a.seconds, a.rounds)
        raw_pz = s["raw_pettingzoo"]
        names = {
            "raw": "raw env",
            "wrapped": "wrapped env",
            "supersuit": "wrapped env, SuperSuit's wrappers (before)",
        }
        for kind in ("raw", "wrapped", "supersuit"):
            add(
                env,
                names[kind],
                {b: s[f"{kind}_{b}"] for b in BACKENDS}
                | {f"{b}_cpu": s[f"{kind}_{b}_cpu"] for b in BACKENDS},
                raw_pz,
            )
        if a.sample_steps:
            spec = cfg.train_spec(c, env, "ppo", "shared", 0)
            sp = {
                b: sampling_speed(dict(spec, env=dict(spec["env"], backend=b)), a.sample_steps)
                for b in BACKENDS
            }
            add(env, "env runner sampling (1 core, 8 envs)", sp, raw_pz)
        for method in a.methods:
            if env not in cfg.method_envs(c, method):
                continue
            for sharing in a.sharing:
                spec = cfg.train_spec(c, env, method, sharing, 0)
                sp = {}
                for b in BACKENDS:
                    run = dict(spec, env=dict(spec["env"], backend=b))
                    sp[b], sp[f"{b}_cpu"] = train_speed(run, a.train_iterations)
                add(env, f"{method} training, {sharing}", sp, raw_pz, s["raw_pettingzoo_cpu"])
        # after every env, so that a long run on a loaded machine loses nothing measured
        partial = "" if env == a.envs[-1] else "(partial: the envs measured so far)"
        save_section(rows, "fastenv", a.label, " ".join(filter(None, [a.note, partial])))


if __name__ == "__main__":
    main()
