"""RLlib classes of psmarl's SAC (imported lazily by :mod:`psmarl.methods.sac`, so that
``import psmarl.methods`` stays free of RLlib and torch).

:class:`PsmarlSACConfig` / :class:`PsmarlSAC`: RLlib's own SAC with the replay-based
methods' mixins (:mod:`psmarl.methods.replay_step`): a seeded replay buffer, psmarl's held
training intensity and multi-agent buffers, and no minimum wall-clock time per iteration.
"""

from __future__ import annotations

from ray.rllib.algorithms.sac import SAC, SACConfig

from psmarl.methods.replay_step import (
    AcceptsAgentScaledBuffer,
    HeldIntensity,
    IterationSizeInTraining,
    ReplayLoopSettings,
    SeededReplayBuffer,
)


class PsmarlSAC(HeldIntensity, SeededReplayBuffer, SAC):
    """RLlib's SAC with a seeded replay buffer and psmarl's held training intensity."""

    @classmethod
    def get_default_config(cls):
        return PsmarlSACConfig()


class PsmarlSACConfig(
    ReplayLoopSettings, AcceptsAgentScaledBuffer, IterationSizeInTraining, SACConfig
):
    """RLlib's own SACConfig, plus psmarl's replay mixins (algorithm: :class:`PsmarlSAC`)."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or PsmarlSAC)
