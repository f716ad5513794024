"""Tiny single-agent tasks for the methods' learning tests (made here, nothing downloaded).

Both are contextual bandits unrolled over ``horizon`` steps: each step shows a fresh random
context, the reward depends on the action taken for it. A learner that has understood the
task gets the optimum; a random policy gets far less, so thresholds between the two are
meaningful.

- :class:`MatchDiscrete`: one-hot context of ``n`` classes, ``Discrete(n)`` action, reward 1
  when the action names the class. Random: horizon / n; optimum: horizon.
- :class:`TargetContinuous`: target in [-1, 1]^d, ``Box(-1, 1, (d,))`` action, reward
  ``-||a - target||^2``. Random (uniform actions): -horizon * d * 2/3; optimum: 0.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv


class _Unrolled(gym.Env):
    def __init__(self, config=None):
        config = dict(config or {})
        self.horizon = int(config.get("horizon", 10))
        self._rng = np.random.default_rng(config.get("seed"))
        self._t = 0

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._t = 0
        self._ctx = self._draw()
        return self._obs(), {}

    def step(self, action):
        r = float(self._reward(action))
        self._t += 1
        self._ctx = self._draw()
        return self._obs(), r, False, self._t >= self.horizon, {}


class MatchDiscrete(_Unrolled):
    def __init__(self, config=None):
        super().__init__(config)
        self.n = int((config or {}).get("n", 4))
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.n,), np.float32)
        self.action_space = gym.spaces.Discrete(self.n)

    def _draw(self):
        return int(self._rng.integers(self.n))

    def _obs(self):
        o = np.zeros(self.n, np.float32)
        o[self._ctx] = 1.0
        return o

    def _reward(self, action):
        return 1.0 if int(action) == self._ctx else 0.0


class TargetContinuous(_Unrolled):
    def __init__(self, config=None):
        super().__init__(config)
        self.d = int((config or {}).get("d", 2))
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (self.d,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.d,), np.float32)

    def _draw(self):
        return self._rng.uniform(-1.0, 1.0, self.d).astype(np.float32)

    def _obs(self):
        return self._ctx.copy()

    def _reward(self, action):
        a = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        return -float(np.sum((a - self._ctx) ** 2))


class MatchTeam(ParallelEnv):
    """A multi-agent :class:`MatchDiscrete` as a PettingZoo parallel env (for the MADDPG/QMIX
    baselines): every agent sees a one-hot class of its own, drawn afresh each step, and gets
    1 when its ``Discrete(n)`` action names it. Episodes last ``max_cycles`` steps. Random
    total over agents: ``n_agents * max_cycles / n``; optimum ``n_agents * max_cycles``."""

    metadata = {"name": "match_team_v0", "is_parallelizable": True, "render_modes": []}

    def __init__(self, max_cycles: int = 10, n: int = 3, n_agents: int = 2, render_mode=None):
        self.max_cycles, self.n = int(max_cycles), int(n)
        self.possible_agents = [f"agent_{i}" for i in range(int(n_agents))]
        self.agents = list(self.possible_agents)
        self.render_mode = render_mode
        self._rng = np.random.default_rng()
        self._t = 0
        self._ctx: dict[str, int] = {}

    def observation_space(self, agent):
        return gym.spaces.Box(0.0, 1.0, (self.n,), np.float32)

    def action_space(self, agent):
        return gym.spaces.Discrete(self.n)

    def _obs(self):
        self._ctx = {a: int(self._rng.integers(self.n)) for a in self.agents}
        return {a: np.eye(self.n, dtype=np.float32)[c] for a, c in self._ctx.items()}

    def reset(self, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents, self._t = list(self.possible_agents), 0
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions):
        rewards = {a: float(int(actions[a]) == self._ctx[a]) for a in self.agents}
        self._t += 1
        obs = self._obs()
        over = self._t >= self.max_cycles
        terms = {a: False for a in self.agents}
        truncs = {a: over for a in self.agents}
        infos = {a: {} for a in self.agents}
        if over:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def close(self):
        pass
