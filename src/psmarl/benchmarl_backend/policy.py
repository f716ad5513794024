"""Deterministic actions of a BenchMARL (MADDPG or QMIX) checkpoint, for psmarl's evaluator.

The experiment is rebuilt from the run spec recorded in ``psmarl_run.json`` and restored
from ``benchmarl.pt`` (BenchMARL's own ``restore_file``); its policy is then called under
``ExplorationType.DETERMINISTIC`` (no Gaussian noise for MADDPG, greedy for QMIX), the way
BenchMARL's own evaluation does. Actions go through the run's action adapter (bins ->
continuous action for QMIX, argmax of scores for MADDPG on discrete envs) so the raw env
of :func:`psmarl.evaluate._play` receives its own action type.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from psmarl import results
from psmarl.benchmarl_backend import CHECKPOINT_FILE, GROUP
from psmarl.errors import InputError
from psmarl.inference import pad_rows


class BenchmarlPolicy:
    deterministic = True

    def __init__(self, env, checkpoint: str | os.PathLike):
        import torch

        from psmarl.benchmarl_backend.actions import decoder
        from psmarl.benchmarl_backend.train import _quiet, build_experiment

        _quiet()
        torch.set_num_threads(1)
        ckpt = Path(checkpoint).resolve()
        meta = results.read_json(ckpt / results.RUN_META, ("spec", "agents"))
        state = ckpt / CHECKPOINT_FILE
        if not state.exists():
            raise InputError(
                f"checkpoint {ckpt} has no BenchMARL state {state.name} "
                f"(expected {state}); " + results.redo_hint(state)
            )
        spec = dict(meta["spec"])
        # one collector env is enough to rebuild the networks
        spec["settings"] = {
            **spec["settings"],
            "n_envs": 1,
            "frames_per_batch": 1,
            "memory_size": 1,
        }
        self.agents: list[str] = list(meta["agents"])
        self.index = {a: i for i, a in enumerate(self.agents)}
        self._tmp = tempfile.TemporaryDirectory(prefix="psmarl-benchmarl-")
        bad = results.find_damaged_file(ckpt)  # BenchMARL's own error names no file
        if bad is not None:
            raise results.damaged(*bad)
        experiment = build_experiment(spec, self._tmp.name, restore_file=state)
        self.policy = experiment.policy
        experiment.close()
        adapter = spec.get("action_adapter")
        self.decode = {a: decoder(env.action_space(a), adapter) for a in env.possible_agents}
        self._torch = torch

    def start_episode(self, slot: int, seed: int) -> None:
        pass

    def module_of(self, agent: str) -> str:
        return GROUP

    def act(self, module_id: str, members: list[tuple[int, str]], obs: np.ndarray) -> list[Any]:
        """One forward pass over every env slot: agents absent from a slot get zeros."""
        from tensordict import TensorDict
        from torchrl.envs.utils import ExplorationType, set_exploration_type

        torch = self._torch
        slots = sorted({s for s, _ in members})
        row = {s: i for i, s in enumerate(slots)}
        flat = obs.reshape(len(members), -1).astype(np.float32)
        x = np.zeros((len(slots), len(self.agents), flat.shape[1]), dtype=np.float32)
        for (slot, agent), o in zip(members, flat):
            x[row[slot], self.index[agent]] = o
        x = pad_rows(x, 4)  # batch-size independent rounding (see psmarl.inference.MIN_BATCH)
        td = TensorDict(
            {
                GROUP: TensorDict(
                    {"observation": torch.from_numpy(x)}, batch_size=[x.shape[0], len(self.agents)]
                )
            },
            batch_size=[x.shape[0]],
        )
        with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
            out = self.policy(td)
        actions = out.get((GROUP, "action")).cpu().numpy()
        return [
            self.decode[agent](actions[row[slot], self.index[agent]]) for slot, agent in members
        ]
