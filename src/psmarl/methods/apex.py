"""Ape-X's distributed-exploration schedule (Horgan et al., 2018), shared by ApeX-DQN and
ApeX-DDPG.

Ape-X gives each of its N actors a fixed exploration rate
``epsilon_i = base ** (1 + alpha * i / (N - 1))`` (base 0.4, alpha 7 in the paper), so a few
actors explore a lot and most act almost greedily. With one actor it uses ``base``.
"""

from __future__ import annotations

import math

APEX_BASE = 0.4
APEX_ALPHA = 7.0


def apex_epsilon(
    index: int, num_actors: int, base: float = APEX_BASE, alpha: float = APEX_ALPHA
) -> float:
    """Exploration rate of actor ``index`` (0-based) out of ``num_actors``."""
    if num_actors < 1:
        raise ValueError(f"num_actors must be at least 1, got {num_actors}")
    if not 0 <= index < num_actors:
        raise ValueError(f"actor index {index} is outside 0..{num_actors - 1}")
    if num_actors == 1:
        return float(base)
    return float(base ** (1.0 + alpha * index / (num_actors - 1)))


def apex_epsilons(
    num_actors: int, base: float = APEX_BASE, alpha: float = APEX_ALPHA
) -> list[float]:
    return [apex_epsilon(i, num_actors, base, alpha) for i in range(num_actors)]


def reporting_runner(worker_index: int, num_env_runners: int) -> bool:
    """Whether old RLlib's Ape-X reported the episodes of env runner ``worker_index``.

    RLlib 0.8/0.9's Ape-X collected episode metrics only from
    ``remote_workers()[-len(remote_workers()) // 3:]``: the last ceil(N/3) of its N remote
    workers, the ones with the lowest epsilon (or noise). With no remote runner the local
    one samples, and its episodes are the ones reported.
    """
    n = int(num_env_runners)
    if n <= 0:
        return True
    return int(worker_index) >= n - math.ceil(n / 3) + 1
