"""The peer recipe the throughput benchmark compares against: Stable-Baselines3 PPO on
SuperSuit's vectorised PettingZoo env (parameter sharing by construction).

Same network ([400, 300] ReLU, shared by policy and value like psmarl's `vf_share_layers`),
same batch (``train_batch`` env steps per update, i.e. train_batch x agents samples),
minibatch (``minibatch`` samples) and epochs as the psmarl PPO it is compared with.
SB3 and SuperSuit are the benchmark's own extra (`pip install -e .[bench]`), never a
runtime dependency of psmarl.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any


def sb3_ppo_speed(
    settings: Mapping[str, Any],
    *,
    train_batch: int,
    minibatch: int,
    epochs: int,
    iterations: int,
    copies: int = 1,
    env_procs: int = 0,
    seed: int = 0,
) -> float:
    """Env steps/s of SB3 PPO over ``iterations`` updates after one warm-up update.

    ``copies`` copies of the parallel env are concatenated (each contributes one SB3 env
    per agent); ``env_procs`` > 0 steps them in that many subprocesses (SuperSuit's
    ``num_cpus``), 0 in-process.
    """
    import supersuit as ss
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    from psmarl.envs import make_parallel_env

    torch.manual_seed(seed)
    env = make_parallel_env(settings)
    n_agents = len(env.possible_agents)
    venv = ss.pettingzoo_env_to_vec_env_v1(env)
    venv = ss.concat_vec_envs_v1(venv, copies, num_cpus=env_procs, base_class="stable_baselines3")
    n_steps = math.ceil(train_batch / copies)
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=n_steps,
        batch_size=minibatch,
        n_epochs=epochs,
        learning_rate=5e-5,
        gamma=0.99,
        gae_lambda=0.95,
        clip_range=0.1,
        ent_coef=0.01,
        policy_kwargs={"net_arch": [400, 300], "activation_fn": torch.nn.ReLU},
        verbose=0,
        device="cpu",
    )  # no seed=: SB3 would call the SuperSuit vec env's missing seed(); speed needs none

    class Clock(BaseCallback):
        """Time of each rollout start: the wall time of one full update cycle."""

        def __init__(self):
            super().__init__()
            self.starts: list[float] = []

        def _on_rollout_start(self) -> None:
            self.starts.append(time.perf_counter())

        def _on_step(self) -> bool:
            return True

    clock = Clock()
    per_update = n_steps * copies * n_agents  # samples per update (SB3 counts agent steps)
    model.learn(total_timesteps=per_update * (iterations + 1) + 1, callback=clock)
    end = time.perf_counter()
    venv.close()
    # the first rollout is warm-up; the last start belongs to a rollout cut by the budget
    t0 = clock.starts[1]
    return (
        n_steps * copies * iterations / (clock.starts[1 + iterations] - t0)
        if len(clock.starts) > 1 + iterations
        else n_steps * copies * iterations / (end - t0)
    )
