"""Training of one (env, method, sharing, seed) run with RLlib, resumable at any moment.

State of an unfinished run lives in ``<run>/.work``: the latest checkpoint (replaced
atomically every ``checkpoint_every`` iterations) and the progress rows so far
(``progress.jsonl``, one line appended per iteration). A run that
is killed (SIGKILL included) and started again restores that checkpoint and drops progress
rows newer than it, so ``progress.csv`` never has duplicate or missing iterations. The
workflow outputs (``progress.csv``, ``checkpoint/``, ``train_summary.json``) are written
only when the budget is reached.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from psmarl import results
from psmarl.errors import ConfigError

ENV_KEY_PREFIX = "psmarl_"
#: samples trained in an iteration (psmarl.methods.replay_step logs it; kept here so that
#: reading results does not import RLlib)
SAMPLES_TRAINED_KEY = "psmarl_samples_trained"


# ---------------------------------------------------------------- spec helpers
def agent_to_module(agents: list[str], sharing: str) -> dict[str, str]:
    if sharing == "shared":
        return {a: "shared" for a in agents}
    if sharing == "independent":
        return {a: a for a in agents}
    raise ConfigError(f"unknown sharing mode {sharing!r}; use 'shared' or 'independent'",
                      key="sharing")


def check_budget(budget: Mapping[str, Any]) -> tuple[str, int]:
    keys = [k for k in ("env_steps", "episodes", "iterations") if budget.get(k) is not None]
    if len(keys) != 1:
        raise ConfigError("give exactly one of env_steps, episodes or iterations",
                          key="training.budget")
    k = keys[0]
    v = budget[k]
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise ConfigError(f"must be a positive integer, got {v!r}", key=f"training.budget.{k}")
    return k, v


AUTO = "auto"


def resolve_runtime(runtime: Mapping[str, Any], cores: int | None = None) -> dict[str, Any]:
    """The process layout of a run, ``auto`` entries filled in from the cores it is given.

    ``cores``: CPUs this job may use (the workflow passes Snakemake's ``threads``, which
    Snakemake lowers to ``--cores`` on a smaller machine, and Slurm's cpus-per-task follows
    it); by default ``runtime.num_cpus``. ``num_env_runners: auto`` is one sampling process
    per core, or sampling in the training process when there is one core: RLlib's PPO-style
    and off-policy loops sample and learn in turn, so while the runners wait the learner in
    the training process has every core (``bench/RESULTS.md``, section layouts).
    ``num_envs_per_env_runner: auto`` is 8 (Table 4's envs per worker; fewer measured slower).
    """
    rt = dict(runtime)
    n = int(cores) if cores is not None else int(rt.get("num_cpus", 1))
    if n < 1:
        raise ConfigError(f"must be at least 1, got {n}", key="training.runtime.num_cpus")
    rt["num_cpus"] = n
    if rt.get("num_env_runners", AUTO) == AUTO:
        rt["num_env_runners"] = n if n > 1 else 0
    if rt.get("num_envs_per_env_runner", AUTO) == AUTO:
        rt["num_envs_per_env_runner"] = 8
    rt.setdefault("num_gpus", 0)
    for key in ("num_env_runners", "num_envs_per_env_runner", "num_gpus"):
        v = rt[key]
        if not isinstance(v, int) or isinstance(v, bool) or v < (1 if key == "num_envs_per_env_runner" else 0):
            raise ConfigError(f"must be a non-negative integer or 'auto', got {v!r}",
                              key=f"training.runtime.{key}")
    return rt


def start_processes(runtime: Mapping[str, Any], log: Callable[[str], None] | None = None,
                    runner_cpus: int = 0) -> None:
    """Threads and Ray for a resolved runtime: the learner in this process gets every core
    (remote runners wait while it learns), each runner process one thread (they run side by
    side). Ray is started here (loopback only: :mod:`psmarl.ray_session`) unless it already
    runs (tests share one session), with CPUs for ``runner_cpus`` (the env runners' demand)
    even when the job got fewer cores: the runners then share them instead of waiting for
    ever for a CPU Ray does not have."""
    import torch

    from psmarl import ray_session

    cores = int(runtime["num_cpus"])
    torch.set_num_threads(cores)
    # Ray starts its workers (the env runners) at niceness 15, so on a machine with anything
    # else to do they sample at a fraction of the learner's priority and stall the run
    # (seen here with 2 runners beside a pip install: no sample within RLlib's timeout).
    # A job's runners are as important as its learner: same niceness.
    os.environ.setdefault("RAY_worker_niceness", "0")
    if runner_cpus > cores and log is not None:
        log(f"note: the env runners ask for {runner_cpus} CPUs but this job has {cores} "
            f"core(s) (training.runtime.num_cpus or --cores); they share the cores")
    ray_session.start(max(cores, runner_cpus), {"OMP_NUM_THREADS": "1"}, log)


def _env_creator(env_config):
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    from psmarl.envs import make_parallel_env

    return ParallelPettingZooEnv(make_parallel_env(env_config["settings"]))


def build_algorithm_config(spec: Mapping[str, Any], cores: int | None = None):
    """RLlib AlgorithmConfig for a run spec (see :func:`psmarl.config.train_spec`) on
    ``cores`` CPUs (see :func:`resolve_runtime`)."""
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env

    from psmarl import methods
    from psmarl.envs import make_parallel_env

    env_settings = spec["env"]
    method = methods.get(spec["method"])
    ms = spec["method_settings"]
    runtime = resolve_runtime(spec.get("runtime", {}), cores)

    probe = make_parallel_env(env_settings)
    agents = list(probe.possible_agents)
    obs_spaces = {a: probe.observation_space(a) for a in agents}
    act_spaces = {a: probe.action_space(a) for a in agents}
    probe.close()
    kinds = {methods.action_kind(s) for s in act_spaces.values()}
    bad = kinds - set(method.action_kinds)
    if bad:
        raise ConfigError(
            f"method {method.name!r} supports {sorted(method.action_kinds)} actions, but "
            f"{env_settings['name']!r} has {sorted(bad)} actions", key=f"methods.{method.name}")

    mapping = agent_to_module(agents, spec["sharing"])
    module_ids = sorted(set(mapping.values()))
    if spec["sharing"] == "shared":
        from psmarl.envs.wrappers import shared_policy_problem

        problem = shared_policy_problem(obs_spaces, act_spaces, env_settings["name"])
        if problem is not None:
            raise problem

    env_key = ENV_KEY_PREFIX + env_settings["name"]
    register_env(env_key, _env_creator)

    model = DefaultModelConfig(**ms.get("model", {}))
    first = {mid: next(a for a in agents if mapping[a] == mid) for mid in module_ids}
    module_specs = {
        mid: RLModuleSpec(observation_space=obs_spaces[first[mid]],
                          action_space=act_spaces[first[mid]], model_config=model)
        for mid in module_ids
    }

    config = method.base_config()
    config = (
        config.environment(env=env_key, env_config={"settings": dict(env_settings)})
        .framework("torch")
        .env_runners(**{
            "num_env_runners": runtime["num_env_runners"],
            "num_envs_per_env_runner": runtime["num_envs_per_env_runner"],
            "num_cpus_per_env_runner": 1,
            # wait for the runners' samples however long they take: with RLlib's default
            # (60 s) a loaded machine made iterations return no samples at all, over and over
            # (seen here: multiwalker PPO stalled at one env step count for minutes)
            "sample_timeout_s": None,
            **ms.get("env_runners", {}),  # a method's own values win (e.g. Ape-X's runners)
        })
        .learners(num_learners=0, num_gpus_per_learner=runtime["num_gpus"])
        .multi_agent(
            policies=set(module_ids),
            policy_mapping_fn=_MappingFn(mapping),
            policies_to_train=module_ids,
        )
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=module_specs))
        .debugging(seed=int(spec["seed"]), log_level="WARN")
        .callbacks(_episode_returns_callback(paper_measure(ms)["runners"]))
    )
    training = dict(ms.get("training", {}))
    clip = ms.get("clip_rewards", False)
    config = config.training(**training)
    if clip:
        config = config.learners(learner_connector=_ClipFactory(clip))
    if method.customize is not None:
        config = method.customize(config, ms, env_settings)
    return config, mapping


EPISODE_RETURNS_KEY = "psmarl_episode_returns"
#: the episodes of the runners old RLlib reported (all, or Ape-X's last third)
PAPER_RETURNS_KEY = "psmarl_paper_episode_returns"
SMOOTHING_EPISODES = 100  # RLlib 0.x's episode_reward_mean window, which the paper reported


def paper_measure(method_settings: Mapping[str, Any]) -> dict[str, Any]:
    """The method's ``paper_measure`` (window, runners), defaults filled in."""
    from psmarl.methods import check_paper_measure

    return check_paper_measure(method_settings.get("paper_measure") or {}, "paper_measure")


def old_rllib_mean(history: Sequence[float], new: Sequence[float], window: int) -> float:
    """Old RLlib's ``episode_reward_mean``: the mean over the episodes that ended in this
    iteration, topped up with the latest earlier ones (``history``) to ``window`` episodes
    when fewer ended (``metrics_smoothing_episodes``)."""
    vals = list(new)
    missing = window - len(vals)
    if missing > 0 and len(history):
        vals = list(history)[-missing:] + vals
    return float(np.mean(vals)) if vals else float("nan")


def _episode_returns_callback(runners: str = "all"):
    from ray.rllib.callbacks.callbacks import RLlibCallback

    from psmarl.methods.apex import reporting_runner

    class EpisodeReturns(RLlibCallback):
        """Logs every finished episode's total reward (sum over agents and over chunks),
        and again under the paper's key when the paper's RLlib reported this runner's
        episodes (``runners``: ``all``, or ``last_third`` for Ape-X).

        RLlib 2.60 reports ``episode_return_mean`` per iteration only (NaN when no episode
        finished), not over the last 100 episodes as the paper's RLlib did; psmarl keeps
        the window itself from these values.
        """

        def on_episode_end(self, *, episode, prev_episode_chunks=None, metrics_logger=None,
                           env_runner=None, **kwargs):
            total = float(episode.get_return())
            total += sum(float(c.get_return()) for c in (prev_episode_chunks or []))
            metrics_logger.log_value(EPISODE_RETURNS_KEY, total, reduce="item_series")
            if runners == "all" or env_runner is None or reporting_runner(
                    env_runner.worker_index or 0, env_runner.config.num_env_runners):
                metrics_logger.log_value(PAPER_RETURNS_KEY, total, reduce="item_series")

    return EpisodeReturns


class _MappingFn:
    """Picklable agent -> module mapping (ray ships the config to remote runners)."""

    def __init__(self, mapping: Mapping[str, str]):
        self.mapping = dict(mapping)

    def __call__(self, agent_id, episode=None, **kwargs):
        return self.mapping[agent_id]


class _ClipFactory:
    def __init__(self, clip):
        self.clip = clip

    def __call__(self, obs_space=None, act_space=None, *args):
        from psmarl.connectors import ClipRewards

        return ClipRewards(obs_space, act_space, clip=self.clip)


# ---------------------------------------------------------------- metrics
def _get(d: Mapping[str, Any], *path, default=np.nan):
    for p in path:
        if not isinstance(d, Mapping) or p not in d:
            return default
        d = d[p]
    return d


def _scalar(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def _increment(result: Mapping[str, Any], key: str, prev_lifetime: float | None):
    """This iteration's count of `key` and the new lifetime value.

    Uses the lifetime counter's difference where it is known (robust to RLlib omitting or
    NaN-ing the per-iteration value when nothing happened), else the per-iteration value.
    """
    lifetime = _scalar(_get(result, "env_runners", f"{key}_lifetime"))
    if prev_lifetime is not None and np.isfinite(lifetime):
        return int(round(lifetime - prev_lifetime)), lifetime
    step = _scalar(_get(result, "env_runners", key))
    step = int(step) if np.isfinite(step) else 0
    return step, (lifetime if np.isfinite(lifetime) else None)


LEARNER_STATS = ("policy_loss", "vf_loss", "entropy", "mean_kl_loss", "total_loss",
                 "qf_loss", "td_error_mean", "curr_entropy_coeff")


def episode_returns(result: Mapping[str, Any], key: str = EPISODE_RETURNS_KEY) -> list[float]:
    """Total rewards of the episodes that finished in this iteration (our callback's; with
    ``key=PAPER_RETURNS_KEY`` those of the runners the paper's RLlib reported)."""
    v = _get(result, "env_runners", key, default=[])
    if isinstance(v, (int, float)):
        v = [v]
    return [float(x) for x in (v or [])]


def progress_row(result: Mapping[str, Any], iteration: int, env_steps: int, episodes: int,
                 wall: float, module_ids: list[str], window: Sequence[float],
                 paper: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One progress.csv row. ``paper``: the paper's measure of this iteration
    (``avg_total_reward`` and ``episodes`` as old RLlib reported them) and the samples
    trained so far (replay-based methods)."""
    paper = paper or {}
    row = {
        "iteration": iteration,
        "env_steps": env_steps,
        "episodes": episodes,
        "wall_seconds": round(wall, 3),
        # psmarl's measure: mean total reward of the last 100 training episodes of every runner
        "avg_total_reward": float(np.mean(window)) if len(window) else float("nan"),
        # the paper's: old RLlib's episode_reward_mean (paper_measure: its window, its runners)
        "paper_avg_total_reward": paper.get("avg_total_reward", float("nan")),
        "paper_episodes": paper.get("episodes", episodes),
        "samples_trained": paper.get("samples_trained", float("nan")),
        "iteration_return_mean": _scalar(_get(result, "env_runners", "episode_return_mean")),
        "episode_len_mean": _scalar(_get(result, "env_runners", "episode_len_mean")),
    }
    for mid in module_ids:
        row[f"{mid}/return_mean"] = _scalar(
            _get(result, "env_runners", "module_episode_returns_mean", mid))
        for stat in LEARNER_STATS:
            v = _get(result, "learners", mid, stat, default=None)
            if v is not None:
                row[f"{mid}/{stat}"] = _scalar(v)
    return row


# ---------------------------------------------------------------- resumable loop
class _Work:
    def __init__(self, run: Path):
        self.root = run / ".work"
        self.ckpt = self.root / "checkpoint"
        # one JSON object per iteration, appended as it happens (constant cost per
        # iteration, however long the run); progress.csv is written once at the end
        self.progress = self.root / "progress.jsonl"
        self.root.mkdir(parents=True, exist_ok=True)

    def saved_state(self) -> dict[str, Any] | None:
        if results.recover_checkpoint(self.ckpt) is not None:
            return results.read_json(self.ckpt / results.RUN_META)
        return None

    def load_progress(self, upto: int) -> list[dict[str, Any]]:
        """Rows up to iteration `upto` (a torn last line from a kill is skipped)."""
        if not self.progress.exists():
            return []
        rows: dict[int, dict[str, Any]] = {}
        for line in self.progress.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if row.get("iteration", upto + 1) <= upto:
                rows[row["iteration"]] = row
        return [rows[i] for i in sorted(rows)]

    def write_progress(self, rows: list[dict[str, Any]]) -> None:
        """Replace the rows (start or resume)."""
        results.write_text_atomic(self.progress, "".join(json.dumps(r) + "\n" for r in rows))

    def append_progress(self, row: Mapping[str, Any]) -> None:
        with open(self.progress, "a") as fh:
            fh.write(json.dumps(dict(row)) + "\n")


def _save_checkpoint(algo, target: Path, meta: Mapping[str, Any]) -> None:
    results.write_checkpoint_atomic(target, lambda tmp: algo.save_to_path(str(tmp.resolve())),
                                    meta)


def train(spec: Mapping[str, Any], run_dir: str | os.PathLike,
          log: Callable[[str], None] | None = None, cores: int | None = None) -> dict[str, Any]:
    """Train until the budget is reached; resume from ``<run>/.work`` if a run was cut off.

    ``cores``: CPUs the job is given (default ``runtime.num_cpus``); the runner layout and
    thread counts follow it (:func:`resolve_runtime`).
    """
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    run = Path(run_dir)
    budget_key, budget = check_budget(spec["budget"])
    every = int(spec.get("checkpoint_every", 10))
    if every < 1:
        raise ConfigError("must be a positive integer", key="training.checkpoint_every")
    runtime = resolve_runtime(spec.get("runtime", {}), cores)

    config, mapping = build_algorithm_config(spec, runtime["num_cpus"])
    module_ids = sorted(set(mapping.values()))
    work = _Work(run)
    log(f"runtime: {runtime['num_cpus']} core(s), {runtime['num_env_runners']} env runner "
        f"process(es) x {runtime['num_envs_per_env_runner']} envs, {runtime['num_gpus']} GPU(s)")

    start_processes(runtime, log,
                    math.ceil(config.num_env_runners * (config.num_cpus_per_env_runner or 1)))
    from psmarl.ray_session import ResourceWaitReporter

    with ResourceWaitReporter(log, hint=RESOURCE_HINT):
        return _train_loop(spec, run, config, mapping, module_ids, work, runtime, log,
                           budget_key, budget, every)


RESOURCE_HINT = ("Are more env runners (training.runtime.num_env_runners, or a method's "
                 "env_runners.num_env_runners) asked for than CPUs (training.runtime.num_cpus)?")


def _train_loop(spec, run, config, mapping, module_ids, work, runtime, log, budget_key,
                budget, every) -> dict[str, Any]:
    algo = config.build_algo()
    state = work.saved_state()
    rows: list[dict[str, Any]] = []
    it, env_steps, episodes, wall = 0, 0, 0, 0.0
    window: deque[float] = deque(maxlen=SMOOTHING_EPISODES)
    measure = paper_measure(spec["method_settings"])
    paper_window: deque[float] = deque(maxlen=measure["window"])
    paper_episodes, trained = 0, None
    if state is not None:
        algo.restore_from_path(str(work.ckpt.resolve()))
        it, env_steps, episodes = state["iteration"], state["env_steps"], state["episodes"]
        wall = state["wall_seconds"]
        window.extend(state.get("return_window", []))
        paper_window.extend(state.get("paper_return_window", []))
        paper_episodes = int(state.get("paper_episodes", 0))
        trained = state.get("samples_trained")
        rows = work.load_progress(it)
        work.write_progress(rows)
        log(f"resumed from iteration {it} ({env_steps} env steps, {episodes} episodes)")
    else:
        work.write_progress([])

    def meta() -> dict[str, Any]:
        return {
            "iteration": it, "env_steps": env_steps, "episodes": episodes,
            "wall_seconds": wall, "agent_to_module": mapping, "return_window": list(window),
            "paper_return_window": list(paper_window), "paper_episodes": paper_episodes,
            "samples_trained": trained,
            "normalize_actions": bool(config.normalize_actions),
            "clip_actions": bool(config.clip_actions), "spec": dict(spec), "runtime": runtime,
        }

    def reached() -> bool:
        return {"env_steps": env_steps, "episodes": episodes, "iterations": it}[budget_key] >= budget

    t_start = time.time() - wall
    last_ckpt = it
    # lifetime counters of this process's Algorithm (0 for a fresh one; unknown after a
    # restore, where RLlib may or may not carry them over)
    life = {"steps": 0.0 if state is None else None, "episodes": 0.0 if state is None else None}
    while not reached():
        result = algo.train()
        it += 1
        d_steps, life["steps"] = _increment(result, "num_env_steps_sampled", life["steps"])
        d_eps, life["episodes"] = _increment(result, "num_episodes", life["episodes"])
        env_steps += d_steps
        episodes += d_eps
        window.extend(episode_returns(result))
        new = episode_returns(result, PAPER_RETURNS_KEY)
        paper = {"avg_total_reward": old_rllib_mean(paper_window, new, measure["window"])}
        paper_window.extend(new)
        paper_episodes += len(new)
        paper["episodes"] = paper_episodes
        step_trained = _scalar(result.get(SAMPLES_TRAINED_KEY))
        if np.isfinite(step_trained):
            trained = int(trained or 0) + int(step_trained)
        paper["samples_trained"] = float("nan") if trained is None else trained
        wall = time.time() - t_start
        row = progress_row(result, it, env_steps, episodes, wall, module_ids, window, paper)
        rows.append(row)
        work.append_progress(row)
        done_frac = {"env_steps": env_steps, "episodes": episodes, "iterations": it}[budget_key] / budget
        log(f"iter {it:4d}  env_steps {env_steps:8d}  episodes {episodes:6d}  "
            f"avg_total_reward {row['avg_total_reward']:9.2f}  "
            f"{min(done_frac, 1) * 100:5.1f}% of {budget} {budget_key}  {wall:7.1f}s")
        if it - last_ckpt >= every or reached():
            _save_checkpoint(algo, work.ckpt, meta())
            last_ckpt = it
    if last_ckpt != it or not work.ckpt.exists():
        _save_checkpoint(algo, work.ckpt, meta())
    algo.stop()

    df = pd.DataFrame(rows)
    best = summarize_progress(df)
    summary = {
        "env": spec["env"]["name"], "preset": spec["env"]["preset"], "method": spec["method"],
        "sharing": spec["sharing"], "seed": spec["seed"], "iterations": it,
        "env_steps": env_steps, "episodes": episodes, "wall_seconds": round(wall, 2),
        "modules": module_ids, **best, "spec": dict(spec), "runtime": runtime,
    }
    results.publish_run(run, work.ckpt, df, summary, work.root)
    return summary


def summarize_progress(df: pd.DataFrame) -> dict[str, Any]:
    """Best (maximum) average total reward of a training curve and where it was reached:
    psmarl's measure (every runner, last 100 episodes) and the paper's (``paper_*`` columns:
    old RLlib's window and runners; a curve without them has the paper's measure = psmarl's)."""
    out = {"best_avg_total_reward": None, "episodes_at_best": None,
           "final_avg_total_reward": None, "paper_best_avg_total_reward": None,
           "paper_episodes_at_best": None}
    if df.empty:
        return out
    for prefix, y, x in (("", "avg_total_reward", "episodes"),
                         ("paper_", *paper_columns(df))):
        if y not in df or df[y].isna().all():
            continue
        i = df[y].idxmax()
        out[f"{prefix}best_avg_total_reward"] = float(df.loc[i, y])
        out[f"{prefix}episodes_at_best"] = int(df.loc[i, x])
        if not prefix:
            out["final_avg_total_reward"] = float(df[y].dropna().iloc[-1])
    return out


def paper_columns(df: pd.DataFrame) -> tuple[str, str]:
    """(reward, episodes) columns of the paper's measure in a progress table: the
    ``paper_*`` ones, or psmarl's where a run has none (MADDPG/QMIX, older runs)."""
    if "paper_avg_total_reward" in df and df["paper_avg_total_reward"].notna().any():
        return "paper_avg_total_reward", "paper_episodes"
    return "avg_total_reward", "episodes"
