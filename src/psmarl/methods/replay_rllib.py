"""RLlib replay-buffer classes psmarl needs (imported lazily: it imports RLlib).

See :mod:`psmarl.methods.replay` for how the off-policy families use them.
"""

from __future__ import annotations

from collections import defaultdict, deque

import numpy as np
from ray.rllib.execution.segment_tree import MinSegmentTree, SumSegmentTree
from ray.rllib.utils import force_list
from ray.rllib.utils.replay_buffers.multi_agent_episode_buffer import (
    MultiAgentEpisodeReplayBuffer,
)
from ray.rllib.utils.replay_buffers.multi_agent_prioritized_episode_buffer import (
    MultiAgentPrioritizedEpisodeReplayBuffer,
)


class AddWithinCapacity:
    """Adds a batch of episodes larger than the buffer in parts that each fit.

    RLlib 2.60's multi-agent episode buffers evict old episodes until the old plus the new
    env steps fit, and fail with "pop from an empty deque" when the new episodes alone hold
    more than ``capacity`` env steps: every old episode is gone and the loop pops on. That
    happens when one sampling round brings more than the buffer holds, e.g. pursuit DQN
    shared (50000 transitions / 8 agents = 6250 env steps) with ``complete_episodes`` and 16
    envs (16 episodes of 500 steps). Added in parts, the later parts evict the earlier ones:
    the buffer keeps the newest ``capacity`` env steps, as a ring buffer would (RLlib 0.9's).
    """

    def add(self, episodes, *args, **kwargs):
        part, steps = [], 0
        for eps in force_list(episodes):
            n = eps.env_steps()
            if part and steps + n > self.capacity:
                super().add(part, *args, **kwargs)
                part, steps = [], 0
            part.append(eps)
            steps += n
        if part:
            super().add(part, *args, **kwargs)


class CapacityBoundedMultiAgentEpisodeReplayBuffer(
    AddWithinCapacity, MultiAgentEpisodeReplayBuffer
):
    """RLlib's multi-agent (uniform) episode buffer that takes batches larger than itself."""


class AgentScaledPrioritizedEpisodeReplayBuffer(
    AddWithinCapacity, MultiAgentPrioritizedEpisodeReplayBuffer
):
    """RLlib's multi-agent prioritized episode buffer with per-module segment trees sized for
    ``agents_per_module`` agent steps per env step.

    RLlib 2.60 sizes every module's trees by ``capacity`` (env steps), but a module that
    several agents share stores one entry per agent step, so its free nodes run out after
    about ``2 * next_pow2(capacity) / agents_per_module`` env steps and ``add`` fails with
    "pop from an empty deque" (seen on pursuit with 8 agents sharing one module). Batches
    larger than the buffer are added in parts (:class:`AddWithinCapacity`).
    """

    def __init__(self, capacity: int = 10000, *, agents_per_module: int = 1, **kwargs):
        super().__init__(capacity=capacity, **kwargs)
        self.agents_per_module = max(1, int(agents_per_module))
        size = 2 * int(2 ** np.ceil(np.log2(max(2, self.capacity * self.agents_per_module))))
        self._module_to_sum_segment = defaultdict(lambda: SumSegmentTree(size))
        self._module_to_min_segment = defaultdict(lambda: MinSegmentTree(size))
        self._module_to_free_nodes = defaultdict(lambda: deque(range(size), maxlen=size))
