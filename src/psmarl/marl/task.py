"""A psmarl env as a BenchMARL task, and the callback that records a psmarl run.

Module-level (BenchMARL pickles the task into its experiment folder). The env reaches
TorchRL as ``PettingZooWrapper(env=<parallel env>)``, every agent in one group; TorchRL's
``PettingZooEnv(task=...)`` is avoided (it imports ``pettingzoo.mpe``, gone in 1.26+).
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from benchmarl.environments.pettingzoo.common import PettingZooClass
from benchmarl.experiment.callback import Callback

from psmarl import results
from psmarl.marl import CHECKPOINT_FILE, GROUP, POLICY_KIND
from psmarl.marl.train import episode_totals, total_from_agent_mean
from psmarl.train import SMOOTHING_EPISODES, check_budget


class BudgetReached(Exception):
    """Raised by :class:`Recorder` to end BenchMARL's loop when psmarl's budget is met."""


def build_env(env_settings, adapter):
    """psmarl's parallel env with the method's action adapter on top."""
    from psmarl.envs import make_parallel_env
    from psmarl.marl.actions import wrap

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
        return PettingZooWrapper(env=env, group_map={GROUP: list(env.possible_agents)},
                                 categorical_actions=True, seed=seed, device=self.device,
                                 return_state=False, use_mask=False)


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


class Recorder(Callback):
    """psmarl's progress rows, the 100-episode window, budget and checkpoints."""

    def __init__(self, spec, work: Path, log):
        super().__init__()
        self.spec = spec
        self.work = work
        self.log = log
        self.budget_key, self.budget = check_budget(spec["budget"])
        self.every = int(spec.get("checkpoint_every", 10))
        self.rows: list[dict[str, Any]] = []
        self.window: deque[float] = deque(maxlen=SMOOTHING_EPISODES)
        self.it = self.env_steps = self.episodes = 0
        self.wall = 0.0
        self.last_ckpt = 0
        self.t_start = time.time()
        self.pending: dict[str, Any] = {}
        self.agents: list[str] = []

    def __getstate__(self):
        # BenchMARL pickles its callbacks into the experiment folder: keep what is plain
        return {"spec": self.spec, "work": self.work}

    def __setstate__(self, state):
        self.__init__(state["spec"], state["work"], lambda m: None)

    # BenchMARL hooks --------------------------------------------------------
    def on_setup(self):
        self.agents = list(self.experiment.group_map[GROUP])

    def on_batch_collected(self, batch):
        totals = episode_totals(batch)
        self.window.extend(totals)
        self.env_steps += int(batch.numel())
        self.episodes += len(totals)
        agent_mean = float(self.experiment.mean_return)
        self.pending = {
            "iteration_return_mean": float(np.mean(totals)) if totals else float("nan"),
            "benchmarl_return_mean": agent_mean,
            "benchmarl_return_mean_x_agents": total_from_agent_mean(agent_mean,
                                                                    len(self.agents)),
            "iteration_episodes": len(totals),
        }

    def on_train_end(self, training_td, group):
        self.it += 1
        self.wall = time.time() - self.t_start
        row = {
            "iteration": self.it, "env_steps": self.env_steps, "episodes": self.episodes,
            "wall_seconds": round(self.wall, 3),
            "avg_total_reward": float(np.mean(self.window)) if self.window else float("nan"),
            **self.pending,
        }
        for key, value in training_td.items():
            if key.startswith("loss"):
                row[f"{group}/{key}"] = float(value.float().mean())
        self.rows.append(row)
        results.write_csv_atomic(self.work / "progress.csv", pd.DataFrame(self.rows))
        done = self.progress() >= self.budget
        self.log(f"iter {self.it:4d}  env_steps {self.env_steps:8d}  episodes "
                 f"{self.episodes:6d}  avg_total_reward {row['avg_total_reward']:9.2f}  "
                 f"{min(self.progress() / self.budget, 1) * 100:5.1f}% of {self.budget} "
                 f"{self.budget_key}  {self.wall:7.1f}s")
        if done or self.it - self.last_ckpt >= self.every:
            self.save()
        if done:
            raise BudgetReached()

    def on_state_dict(self, state_dict):
        state_dict["psmarl"] = self.meta()

    def on_load_state_dict(self, state_dict):
        m = state_dict["psmarl"]
        self.it, self.env_steps, self.episodes = m["iteration"], m["env_steps"], m["episodes"]
        self.wall = m["wall_seconds"]
        self.t_start = time.time() - self.wall
        self.last_ckpt = self.it
        self.window.extend(m["return_window"])
        if (self.work / "progress.csv").exists():
            df = pd.read_csv(self.work / "progress.csv")
            df = df[df["iteration"] <= self.it].drop_duplicates("iteration", keep="last")
            self.rows = df.sort_values("iteration").to_dict("records")
        self.log(f"resumed from iteration {self.it} ({self.env_steps} env steps, "
                 f"{self.episodes} episodes)")

    # psmarl ------------------------------------------------------------------
    def progress(self) -> int:
        return {"env_steps": self.env_steps, "episodes": self.episodes,
                "iterations": self.it}[self.budget_key]

    def meta(self) -> dict[str, Any]:
        return {
            "policy_kind": POLICY_KIND, "method": self.spec["method"],
            "iteration": self.it, "env_steps": self.env_steps, "episodes": self.episodes,
            "wall_seconds": self.wall, "return_window": list(self.window),
            "agents": list(self.agents), "group": GROUP,
            "agent_to_module": {a: GROUP for a in self.agents},
            "spec": dict(self.spec),
        }

    def save(self) -> None:
        import torch

        results.write_checkpoint_atomic(
            self.work / "checkpoint",
            lambda tmp: torch.save(self.experiment.state_dict(), tmp / CHECKPOINT_FILE),
            self.meta())
        self.last_ckpt = self.it
