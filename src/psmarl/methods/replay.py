"""Replay buffers of the off-policy families (DQN, SAC, DDPG/TD3, Ape-X) in multi-agent runs.

psmarl always trains through RLlib's multi-agent API (one module per agent, or one module
shared by all), but RLlib 2.60 neither switches to its multi-agent episode buffers by itself
nor sizes them for shared modules:

- the single-agent buffers cannot store MultiAgentEpisodes: each type is mapped to its
  multi-agent twin;
- capacity: RLlib 0.9 (the paper's) kept one buffer per policy holding ``buffer_size`` of
  that policy's transitions (agent steps); RLlib 2.60 counts env steps for all modules
  together. With k agents on a module, ``capacity / k`` env steps hold ``capacity``
  transitions per module, as in the paper;
- RLlib 2.60's multi-agent prioritized buffer sizes each module's segment trees by the env
  step capacity, so a module shared by k agents runs out of tree nodes (``IndexError: pop
  from an empty deque`` after ~16k env steps on pursuit with 8 agents). Prioritized buffers
  become :class:`psmarl.methods.replay_rllib.AgentScaledPrioritizedEpisodeReplayBuffer`,
  whose trees hold k agent steps per env step;
- both multi-agent episode buffers fail the same way when one sampling round brings more env
  steps than the buffer holds (many envs with ``complete_episodes``); psmarl's classes add
  such a batch in parts that fit (the newest ``capacity`` env steps are kept).

This module does not import RLlib (the class is named by its import path).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

AGENT_SCALED_PRIORITIZED = "psmarl.methods.replay_rllib.AgentScaledPrioritizedEpisodeReplayBuffer"
PRIORITIZED = ("PrioritizedEpisodeReplayBuffer", "MultiAgentPrioritizedEpisodeReplayBuffer")
# RLlib's SAC validate() wants "EpisodeReplayBuffer" in the type string; this path has it
BOUNDED_UNIFORM = "psmarl.methods.replay_rllib.CapacityBoundedMultiAgentEpisodeReplayBuffer"
UNIFORM = {"EpisodeReplayBuffer": BOUNDED_UNIFORM, "MultiAgentEpisodeReplayBuffer": BOUNDED_UNIFORM}


def agents_per_module(config) -> int:
    """The largest number of agents mapped to one module (1 without psmarl's mapping)."""
    mapping = getattr(config.policy_mapping_fn, "mapping", None)
    if not mapping:
        return 1
    counts: dict[str, int] = {}
    for module in mapping.values():
        counts[module] = counts.get(module, 0) + 1
    return max(counts.values())


def multi_agent_buffer_config(config, buf: Mapping[str, Any]) -> dict[str, Any]:
    """``replay_buffer_config`` for a multi-agent run of ``config`` (see the module doc)."""
    k = agents_per_module(config)
    out = dict(buf)
    if isinstance(out.get("capacity"), int):
        out["capacity"] = max(1, math.ceil(out["capacity"] / k))
    kind = str(out.get("type", ""))
    if kind in PRIORITIZED:
        out.update(type=AGENT_SCALED_PRIORITIZED, agents_per_module=k)
    elif kind in UNIFORM:
        out["type"] = UNIFORM[kind]
    return out


def multi_agent_replay_buffer(
    config,
    method_settings: Mapping[str, Any] | None = None,
    env_settings: Mapping[str, Any] | None = None,
):
    """``customize`` hook: the multi-agent buffer for a multi-agent config (else unchanged)."""
    if not config.is_multi_agent:
        return config
    return config.training(
        replay_buffer_config=multi_agent_buffer_config(config, config.replay_buffer_config)
    )


@dataclass(frozen=True)
class UniformReplay:
    """A replay buffer setting (``training.replay_buffer_config``): uniform sampling."""

    type: str = "EpisodeReplayBuffer"
    """RLlib's buffer class (multi-agent runs switch to its MultiAgent... twin)"""
    capacity: int = 100000
    """transitions per module (buffer_size 1e5 in the paper's runs)"""


@dataclass(frozen=True)
class PrioritizedReplay(UniformReplay):
    """A prioritized replay buffer setting (old RLlib's prioritized_replay)."""

    type: str = "PrioritizedEpisodeReplayBuffer"
    """RLlib's buffer class (multi-agent runs switch to its MultiAgent... twin)"""
    alpha: float = 0.6
    """priority exponent (old RLlib's prioritized_replay_alpha default)"""
    beta: float = 0.4
    """importance-sampling exponent, fixed (old RLlib's prioritized_replay_beta default)"""


@dataclass(frozen=True)
class FragmentsOf20:
    """RLlib's env_runners settings of the replay methods that set only the fragment."""

    rollout_fragment_length: int | str = 20
    """env steps per env per sample (the paper's sample_batch_size 20)"""
