"""Training of one (env, method, sharing, seed) run with RLlib: the AlgorithmConfig of a
run spec, and the RLlib backend of psmarl's run loop.

Budget, progress rows, checkpoints, resume (SIGKILL included) and publishing are the run
loop's (:mod:`psmarl.run_loop`), the same for the BenchMARL baselines.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from psmarl.errors import ConfigError
from psmarl.methods.spec import SAMPLES_TRAINED_KEY
from psmarl.run_loop import Iteration, RunLoop

ENV_KEY_PREFIX = "psmarl_"


# ---------------------------------------------------------------- spec helpers
def agent_to_module(agents: list[str], sharing: str) -> dict[str, str]:
    if sharing == "shared":
        return {a: "shared" for a in agents}
    if sharing == "independent":
        return {a: a for a in agents}
    raise ConfigError(
        f"unknown sharing mode {sharing!r}; use 'shared' or 'independent'", key="sharing"
    )


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
        least = 1 if key == "num_envs_per_env_runner" else 0
        if not isinstance(v, int) or isinstance(v, bool) or v < least:
            raise ConfigError(
                f"must be a non-negative integer or 'auto', got {v!r}",
                key=f"training.runtime.{key}",
            )
    return rt


def start_processes(
    runtime: Mapping[str, Any], log: Callable[[str], None] | None = None, runner_cpus: int = 0
) -> None:
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
        log(
            f"note: the env runners ask for {runner_cpus} CPUs but this job has {cores} "
            f"core(s) (training.runtime.num_cpus or --cores); they share the cores"
        )
    ray_session.start(max(cores, runner_cpus), {"OMP_NUM_THREADS": "1"}, log)


def learner_device(algo) -> str:
    """Where the learner's module lives ("cpu", "cuda:0"): with ``runtime.num_gpus`` > 0
    RLlib puts the (local) learner on the GPU, and fails if none is visible."""
    return ",".join(
        sorted(
            {
                str(r.get())
                for r in algo.learner_group.foreach_learner(lambda learner: learner.device)
            }
        )
    )


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
            f"{env_settings['name']!r} has {sorted(bad)} actions",
            key=f"methods.{method.name}",
        )

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
        mid: RLModuleSpec(
            observation_space=obs_spaces[first[mid]],
            action_space=act_spaces[first[mid]],
            model_config=model,
        )
        for mid in module_ids
    }

    assert method.base_config is not None, f"{method.name} is not an RLlib method"
    config = method.base_config()
    config = (
        config.environment(env=env_key, env_config={"settings": dict(env_settings)})
        .framework("torch")
        .env_runners(
            **{
                "num_env_runners": runtime["num_env_runners"],
                "num_envs_per_env_runner": runtime["num_envs_per_env_runner"],
                "num_cpus_per_env_runner": 1,
                # wait for the runners' samples however long they take: with RLlib's default
                # (60 s) a loaded machine made iterations return no samples at all, over and over
                # (seen here: multiwalker PPO stalled at one env step count for minutes)
                "sample_timeout_s": None,
                **ms.get("env_runners", {}),  # a method's own values win (e.g. Ape-X's runners)
            }
        )
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


def paper_measure(method_settings: Mapping[str, Any]) -> dict[str, Any]:
    """The method's ``paper_measure`` (window, runners), defaults filled in."""
    from psmarl.methods import check_paper_measure

    return check_paper_measure(method_settings.get("paper_measure") or {}, "paper_measure")


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

        def on_episode_end(
            self,
            *,
            episode,
            prev_episode_chunks=None,
            metrics_logger=None,
            env_runner=None,
            **kwargs,
        ):
            total = float(episode.get_return())
            total += sum(float(c.get_return()) for c in (prev_episode_chunks or []))
            metrics_logger.log_value(EPISODE_RETURNS_KEY, total, reduce="item_series")
            if (
                runners == "all"
                or env_runner is None
                or reporting_runner(env_runner.worker_index or 0, env_runner.config.num_env_runners)
            ):
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


LEARNER_STATS = (
    "policy_loss",
    "vf_loss",
    "vf_loss_unclipped",
    "vf_explained_var",
    "vf_clipped_fraction",
    "entropy",
    "mean_kl_loss",
    "total_loss",
    "qf_loss",
    "td_error_mean",
    "curr_entropy_coeff",
)


def episode_returns(result: Mapping[str, Any], key: str = EPISODE_RETURNS_KEY) -> list[float]:
    """Total rewards of the episodes that finished in this iteration (our callback's; with
    ``key=PAPER_RETURNS_KEY`` those of the runners the paper's RLlib reported)."""
    v = _get(result, "env_runners", key, default=[])
    if isinstance(v, (int, float)):
        v = [v]
    return [float(x) for x in (v or [])]


def result_columns(result: Mapping[str, Any], module_ids: Sequence[str]) -> dict[str, float]:
    """RLlib's own columns of a progress row: the iteration's mean return and episode length,
    each module's return and learner statistics, each agent's return."""
    row = {
        "iteration_return_mean": _scalar(_get(result, "env_runners", "episode_return_mean")),
        "episode_len_mean": _scalar(_get(result, "env_runners", "episode_len_mean")),
    }
    for mid in module_ids:
        row[f"{mid}/return_mean"] = _scalar(
            _get(result, "env_runners", "module_episode_returns_mean", mid)
        )
        for stat in LEARNER_STATS:
            v = _get(result, "learners", mid, stat, default=None)
            if v is not None:
                row[f"{mid}/{stat}"] = _scalar(v)
    agents = _get(result, "env_runners", "agent_episode_returns_mean", default={})
    for aid in sorted(agents) if isinstance(agents, Mapping) else ():
        row[f"agent/{aid}/return_mean"] = _scalar(agents[aid])
    return row


# ---------------------------------------------------------------- the RLlib backend
class RLlibBackend:
    """An RLlib Algorithm as a backend of psmarl's run loop (:mod:`psmarl.run_loop`).

    ``restore``: a checkpoint folder of this run to continue from, or None (fresh)."""

    def __init__(
        self,
        config,
        mapping: Mapping[str, str],
        runtime: Mapping[str, Any],
        restore: Path | None = None,
    ):
        self.config, self.mapping, self.runtime = config, dict(mapping), dict(runtime)
        self.module_ids = sorted(set(self.mapping.values()))
        self.algo = config.build_algo()
        self.learner_device = learner_device(self.algo)
        if restore is not None:
            self.algo.restore_from_path(str(Path(restore).resolve()))
        # lifetime counters of this process's Algorithm (0 for a fresh one; unknown after a
        # restore, where RLlib may or may not carry them over)
        known = 0.0 if restore is None else None
        self.life: dict[str, float | None] = {"steps": known, "episodes": known}

    def run(self, record: Callable[[Iteration], bool]) -> None:
        while not record(self.iteration(self.algo.train())):
            pass

    def iteration(self, result: Mapping[str, Any]) -> Iteration:
        """What one ``Algorithm.train()`` result reports, for the run loop."""
        d_steps, self.life["steps"] = _increment(
            result, "num_env_steps_sampled", self.life["steps"]
        )
        d_eps, self.life["episodes"] = _increment(result, "num_episodes", self.life["episodes"])
        trained = _scalar(result.get(SAMPLES_TRAINED_KEY))
        return Iteration(
            env_steps=d_steps,
            episodes=d_eps,
            episode_returns=episode_returns(result),
            paper_returns=episode_returns(result, PAPER_RETURNS_KEY),
            samples_trained=int(trained) if np.isfinite(trained) else None,
            columns=result_columns(result, self.module_ids),
        )

    def save(self, folder: Path) -> None:
        self.algo.save_to_path(str(Path(folder).resolve()))

    def meta(self) -> dict[str, Any]:
        return {
            "agent_to_module": self.mapping,
            "normalize_actions": bool(self.config.normalize_actions),
            "clip_actions": bool(self.config.clip_actions),
            "runtime": self.runtime,
            "summary": {"runtime": self.runtime, "learner_device": self.learner_device},
        }

    def close(self) -> None:
        self.algo.stop()


def train(
    spec: Mapping[str, Any],
    run_dir: str | os.PathLike,
    log: Callable[[str], None] | None = None,
    cores: int | None = None,
) -> dict[str, Any]:
    """Train until the budget is reached; resume from ``<run>/.work`` if a run was cut off.

    ``cores``: CPUs the job is given (default ``runtime.num_cpus``); the runner layout and
    thread counts follow it (:func:`resolve_runtime`).
    """
    from psmarl.envs import backend_of

    loop = RunLoop(
        spec,
        run_dir,
        log,
        summary={"backend": backend_of(spec["env"])},
        paper_window=paper_measure(spec["method_settings"])["window"],
    )
    if (done := loop.published()) is not None:
        return done
    runtime = resolve_runtime(spec.get("runtime", {}), cores)
    config, mapping = build_algorithm_config(spec, runtime["num_cpus"])
    loop.log(
        f"runtime: {runtime['num_cpus']} core(s), {runtime['num_env_runners']} env "
        f"runner process(es) x {runtime['num_envs_per_env_runner']} envs, "
        f"{runtime['num_gpus']} GPU(s)"
    )
    loop.log(
        f"env: {spec['env']['name']} ({spec['env']['preset']} preset, "
        f"{backend_of(spec['env'])} backend)"
    )
    start_processes(
        runtime, loop.log, math.ceil(config.num_env_runners * (config.num_cpus_per_env_runner or 1))
    )
    from psmarl.ray_session import ResourceWaitReporter

    with ResourceWaitReporter(loop.log, hint=RESOURCE_HINT):
        restore = loop.start()
        backend = RLlibBackend(config, mapping, runtime, restore)
        loop.log(f"learner on {backend.learner_device}")
        return loop.train(backend)


RESOURCE_HINT = (
    "Are more env runners (training.runtime.num_env_runners, or a method's "
    "env_runners.num_env_runners) asked for than CPUs (training.runtime.num_cpus)?"
)
