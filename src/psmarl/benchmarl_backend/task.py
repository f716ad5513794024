"""A psmarl env as a BenchMARL task, and the callback that reports its iterations to psmarl's
run loop (:mod:`psmarl.run_loop`).

Module-level (BenchMARL pickles the task into its experiment folder). The env reaches
TorchRL as ``PettingZooWrapper(env=<parallel env>)``, every agent in one group; TorchRL's
``PettingZooEnv(task=...)`` is avoided (it imports ``pettingzoo.mpe``, gone in 1.26+).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from benchmarl.environments.pettingzoo.common import PettingZooClass
from benchmarl.experiment.callback import Callback

from psmarl.benchmarl_backend import GROUP
from psmarl.run_loop import Iteration


class BudgetReached(Exception):
    """Raised by :class:`Recorder` to end BenchMARL's loop when psmarl's budget is met."""


def build_env(env_settings, adapter):
    """psmarl's parallel env with the method's action adapter on top."""
    from psmarl.benchmarl_backend.actions import wrap
    from psmarl.envs import make_parallel_env

    return wrap(make_parallel_env(env_settings), adapter)


SEED_STRIDE = 7919


class _EnvFactory:
    """Picklable zero-argument env constructor.

    BenchMARL builds its ``n_envs`` collector envs by calling one constructor ``n_envs``
    times (``SerialEnv``), and ``PettingZooWrapper`` seeds the env's first reset with the
    seed it is given: with one seed for all, every env would play the same episodes (the
    env's own RNG then runs in step). The k-th env built gets ``seed + k * SEED_STRIDE``.
    """

    def __init__(self, env_settings, adapter, seed, device):
        self.env_settings, self.adapter = env_settings, adapter
        self.seed, self.device = seed, device
        self.built = 0

    def __call__(self):
        from torchrl.envs.libs.pettingzoo import PettingZooWrapper

        seed = None if self.seed is None else int(self.seed) + self.built * SEED_STRIDE
        self.built += 1
        env = build_env(self.env_settings, self.adapter)
        return PettingZooWrapper(
            env=env,
            group_map={GROUP: list(env.possible_agents)},
            categorical_actions=True,
            seed=seed,
            device=self.device,
            return_state=False,
            use_mask=False,
        )


class PsmarlTask(PettingZooClass):
    """config: ``env`` (psmarl env settings), ``action_adapter``, ``action_kind`` (after the
    adapter), ``max_steps``."""

    def get_env_fun(self, num_envs, continuous_actions, seed, device):
        return _EnvFactory(self.config["env"], self.config["action_adapter"], seed, device)

    def supports_continuous_actions(self):
        return self.config["action_kind"] == "continuous"

    def supports_discrete_actions(self):
        return self.config["action_kind"] == "discrete"

    def has_state(self):
        return False

    def has_render(self, env):
        return False

    def max_steps(self, env):
        return int(self.config["max_steps"])

    @staticmethod
    def env_name():
        return "psmarl"


def total_from_agent_mean(agent_mean: float, n_agents: int) -> float:
    """BenchMARL's per-agent mean episode return -> psmarl's total (sum over agents).

    Exact when every agent of an episode has a return (all agents live until the episode
    ends, as in the SISL games): mean_i R_i * N = sum_i R_i.
    """
    return float(agent_mean) * int(n_agents)


def episode_totals(batch, group: str = GROUP) -> list[float]:
    """Total rewards (sum over agents) of the episodes that end in a collected batch.

    ``batch`` is a TorchRL collector batch of shape ``[n_envs, T]`` (or ``[T]``) with
    BenchMARL's ``RewardSum`` entries ``("next", group, "episode_reward")``; episodes are
    returned in the order they ended (time-major).
    """
    done = batch.get(("next", "done"))  # [*B, 1]
    ep = batch.get(("next", group, "episode_reward"))  # [*B, n_agents, 1]
    if done.ndim == 3:  # [n_envs, T, 1] -> time-major
        done = done.transpose(0, 1)
        ep = ep.transpose(0, 1)
    mask = done.reshape(done.shape[:-1])
    totals = ep[mask].sum(dim=(-2, -1))
    return [float(x) for x in totals.cpu().numpy()]


class LoopHook(Callback):
    """Reports each BenchMARL iteration (a collected batch, then training) to psmarl's run
    loop, and ends BenchMARL's loop (:class:`BudgetReached`) when the run loop says the
    budget is met."""

    def __init__(self):
        super().__init__()
        self.record: Callable[[Iteration], bool] | None = None
        self.pending: Iteration | None = None
        self.agents: list[str] = []

    def __getstate__(self):
        return {}  # BenchMARL pickles its callbacks into the experiment folder

    def __setstate__(self, state):
        self.__init__()

    def on_setup(self):
        self.agents = list(self.experiment.group_map[GROUP])

    def on_batch_collected(self, batch):
        totals = episode_totals(batch)
        agent_mean = float(self.experiment.mean_return)
        self.pending = Iteration(
            env_steps=int(batch.numel()),
            episode_returns=totals,
            columns={
                "iteration_return_mean": float(np.mean(totals)) if totals else float("nan"),
                "benchmarl_return_mean": agent_mean,
                "benchmarl_return_mean_x_agents": total_from_agent_mean(
                    agent_mean, len(self.agents)
                ),
                "iteration_episodes": len(totals),
            },
        )

    def on_train_end(self, training_td, group):
        step, self.pending = self.pending, None
        if step is None or self.record is None:
            return
        for key, value in training_td.items():
            if key.startswith("loss"):
                step.columns[f"{group}/{key}"] = float(value.float().mean())
        if self.record(step):
            raise BudgetReached()
