"""Action-space adapters that let BenchMARL's MADDPG and QMIX run on every SISL game.

* :class:`BinnedActions` (QMIX on waterworld and multiwalker; QMIX is discrete only):
  each dimension ``d`` of a ``Box`` action space is cut into ``bins`` evenly spaced values
  ``linspace(low_d, high_d, bins)`` (both bounds included), and the agent picks one of the
  ``bins ** n_dims`` combinations, a single ``Discrete`` index, decoded in mixed radix
  (dimension 0 is the most significant digit). Index 0 is the all-``low`` corner, the last
  index the all-``high`` corner. See ``docs/baselines.md`` for why (and how this differs
  from the paper's random action samples).
* :class:`ArgmaxActions` (MADDPG on pursuit; BenchMARL's MADDPG is continuous only): a
  ``Discrete(n)`` space becomes ``Box(-1, 1, (n,))`` and the env takes the index of the
  largest entry (the deterministic version of the relaxation MADDPG's reference code used
  for discrete actions).

Both are PettingZoo parallel-env wrappers, and the decoding functions are the same ones
the evaluation policy uses on the raw env, so training and evaluation see one mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium.spaces import Box, Discrete
from pettingzoo.utils.wrappers import BaseParallelWrapper

from psmarl.errors import ConfigError

MAX_BINNED_ACTIONS = 1_000_000


class BinGrid:
    """The per-dimension grid of one Box space: index <-> continuous action."""

    def __init__(self, space: Box, bins: int, key: str = "bins"):
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
            raise ConfigError(
                f"needs an integer >= 2 (both bounds of every action dimension "
                f"are bins), got {bins!r}",
                key=key,
            )
        if not isinstance(space, Box):
            raise TypeError(f"binning needs a Box action space, got {space}")
        low = np.asarray(space.low, dtype=np.float64).ravel()
        high = np.asarray(space.high, dtype=np.float64).ravel()
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ConfigError(f"cannot bin an unbounded action space {space}", key=key)
        self.space = space
        self.bins = bins
        self.dims = low.size
        self.n = bins**self.dims
        if self.n > MAX_BINNED_ACTIONS:
            raise ConfigError(
                f"{bins} bins on {self.dims} action dimensions give {self.n} "
                f"discrete actions (more than {MAX_BINNED_ACTIONS}); use fewer "
                "bins",
                key=key,
            )
        # values[d, k]: the k-th value of dimension d
        self.values = np.linspace(low, high, bins, axis=1)

    def decode(self, index) -> np.ndarray:
        """Continuous action(s) for integer index/indices (any shape; last axis added)."""
        idx = np.asarray(index, dtype=np.int64)
        if np.any(idx < 0) or np.any(idx >= self.n):
            raise ValueError(f"action index out of range [0, {self.n}): {index!r}")
        digits = np.stack(np.unravel_index(idx, (self.bins,) * self.dims), axis=-1)
        out = self.values[np.arange(self.dims), digits]
        return out.reshape(idx.shape + self.space.shape).astype(self.space.dtype)


def argmax_decode(action) -> int | np.ndarray:
    """Discrete action(s) from continuous score vector(s): the index of the largest entry."""
    a = np.asarray(action)
    out = np.argmax(a, axis=-1)
    return int(out) if out.ndim == 0 else out


class BinnedActions(BaseParallelWrapper):
    """Box actions -> one Discrete index over a per-dimension grid (see module docstring)."""

    def __init__(self, env, bins: int, key: str = "bins"):
        super().__init__(env)
        self.grids = {a: BinGrid(env.action_space(a), bins, key) for a in env.possible_agents}

    def action_space(self, agent):
        return Discrete(self.grids[agent].n)

    def step(self, actions):
        return self.env.step(
            {a: self.grids[a].decode(int(np.asarray(v).reshape(()))) for a, v in actions.items()}
        )


class ArgmaxActions(BaseParallelWrapper):
    """Discrete(n) actions -> Box(-1, 1, (n,)) scores; the env takes the argmax."""

    def __init__(self, env):
        super().__init__(env)
        self.sizes = {}
        for a in env.possible_agents:
            sp = env.action_space(a)
            if not isinstance(sp, Discrete):
                raise TypeError(f"argmax actions need Discrete spaces, {a} has {sp}")
            self.sizes[a] = int(sp.n)
        self.starts = {a: int(env.action_space(a).start) for a in env.possible_agents}

    def action_space(self, agent):
        return Box(-1.0, 1.0, (self.sizes[agent],), dtype=np.float32)

    def step(self, actions):
        return self.env.step({a: self.starts[a] + argmax_decode(v) for a, v in actions.items()})


def wrap(env, adapter: Mapping[str, Any] | None):
    """Apply the adapter a run spec names (``{"kind": "bins", "bins": 5}``, ``{"kind":
    "argmax"}`` or None)."""
    if not adapter:
        return env
    if adapter["kind"] == "bins":
        return BinnedActions(env, int(adapter["bins"]))
    if adapter["kind"] == "argmax":
        return ArgmaxActions(env)
    raise ValueError(f"unknown action adapter {adapter!r}")


def decoder(space, adapter: Mapping[str, Any] | None):
    """Function mapping the policy's action (for one agent) to the raw env's action."""
    if not adapter:
        if isinstance(space, Box):
            return lambda a: np.clip(
                np.asarray(a, dtype=space.dtype).reshape(space.shape), space.low, space.high
            )
        return lambda a: int(np.asarray(a).reshape(()))
    if adapter["kind"] == "bins":
        grid = BinGrid(space, int(adapter["bins"]))
        return lambda a: grid.decode(int(np.asarray(a).reshape(())))
    if adapter["kind"] == "argmax":
        start = int(space.start)
        return lambda a: start + argmax_decode(a)
    raise ValueError(f"unknown action adapter {adapter!r}")
