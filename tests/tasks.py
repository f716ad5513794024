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
