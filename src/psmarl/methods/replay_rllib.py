"""RLlib replay-buffer classes psmarl needs (imported lazily: it imports RLlib).

See :mod:`psmarl.methods.replay` for how the off-policy families use them.
"""

from __future__ import annotations

from collections import defaultdict, deque

import numpy as np
from ray.rllib.execution.segment_tree import MinSegmentTree, SumSegmentTree
from ray.rllib.utils.replay_buffers.multi_agent_prioritized_episode_buffer import (
    MultiAgentPrioritizedEpisodeReplayBuffer,
)


class AgentScaledPrioritizedEpisodeReplayBuffer(MultiAgentPrioritizedEpisodeReplayBuffer):
    """RLlib's multi-agent prioritized episode buffer with per-module segment trees sized for
    ``agents_per_module`` agent steps per env step.

    RLlib 2.60 sizes every module's trees by ``capacity`` (env steps), but a module that
    several agents share stores one entry per agent step, so its free nodes run out after
    about ``2 * next_pow2(capacity) / agents_per_module`` env steps and ``add`` fails with
    "pop from an empty deque" (seen on pursuit with 8 agents sharing one module).
    """

    def __init__(self, capacity: int = 10000, *, agents_per_module: int = 1, **kwargs):
        super().__init__(capacity=capacity, **kwargs)
        self.agents_per_module = max(1, int(agents_per_module))
        size = 2 * int(2 ** np.ceil(np.log2(max(2, self.capacity * self.agents_per_module))))
        self._module_to_sum_segment = defaultdict(lambda: SumSegmentTree(size))
        self._module_to_min_segment = defaultdict(lambda: MinSegmentTree(size))
        self._module_to_free_nodes = defaultdict(lambda: deque(range(size), maxlen=size))


