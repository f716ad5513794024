"""Wrappers applied identically in training, evaluation and baselines (SuperSuit based)."""

from __future__ import annotations

import numpy as np
import supersuit as ss
from gymnasium.spaces import Box


def _append_scalar_index(env):
    """Append the agent's index (0..N-1, in ``possible_agents`` order) to its observation.

    This is what the paper's code did (a scalar id as the last observation entry).
    """
    index = {a: float(i) for i, a in enumerate(env.possible_agents)}
    n = max(len(index) - 1, 0)

    def obs_fn(obs, obs_space, agent):
        return np.append(np.asarray(obs, dtype=np.float32).ravel(), np.float32(index[agent]))

    def space_fn(space, agent=None):
        low = np.append(np.asarray(space.low, dtype=np.float32).ravel(), np.float32(0.0))
        high = np.append(np.asarray(space.high, dtype=np.float32).ravel(), np.float32(n))
        return Box(low=low, high=high, dtype=np.float32)

    return ss.observation_lambda_v0(env, obs_fn, space_fn)


def apply_standard_wrappers(env, agent_indication: str = "none"):
    """Flatten box observations to float32 vectors and add the chosen agent indication."""
    sample_agent = env.possible_agents[0]
    space = env.observation_space(sample_agent)
    if isinstance(space, Box):
        if len(space.shape) > 1:
            env = ss.flatten_v0(env)
        if space.dtype != np.float32:
            env = ss.dtype_v0(env, np.float32)
    if agent_indication == "scalar":
        env = _append_scalar_index(env)
    elif agent_indication == "onehot":
        env = ss.agent_indicator_v0(env, type_only=False)
    return env
