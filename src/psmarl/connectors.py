"""RLlib ConnectorV2 pieces psmarl adds to the new API stack."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode


def _clip(values, clip):
    r = np.asarray(values, dtype=np.float32)
    return np.sign(r) if clip is True else np.clip(r, -float(clip), float(clip))


def _with_clipped_rewards(sa_episode, clip):
    """A shallow copy of a SingleAgentEpisode whose reward buffer holds clipped rewards."""
    new = copy.copy(sa_episode)
    buf = copy.copy(sa_episode.rewards)
    data = buf.data
    clipped = _clip(data, clip)
    buf.data = (
        clipped.astype(np.asarray(data).dtype) if isinstance(data, np.ndarray) else list(clipped)
    )
    new.rewards = buf
    return new


class ClipRewards(ConnectorV2):
    """Learner connector: clip training rewards like old RLlib's ``clip_rewards``.

    ``True`` -> sign of the reward (old RLlib's behaviour, which the paper used for PPO and
    A2C); a float ``c`` -> clip to [-c, c]. The new API stack accepts ``clip_rewards`` but
    never applies it, so this piece runs first in the learner pipeline, before advantages
    are computed.

    The episodes are NOT modified in place: a local env runner keeps references to the
    same episode objects to compute the logged (unclipped) episode returns, so this piece
    swaps copies with clipped reward buffers into the list the learner pipeline works on.
    """

    def __init__(
        self,
        input_observation_space=None,
        input_action_space=None,
        *,
        clip: bool | float = True,
        **kwargs,
    ):
        super().__init__(input_observation_space, input_action_space, **kwargs)
        self.clip = clip

    def __call__(
        self, *, rl_module, batch, episodes, explore=None, shared_data=None, metrics=None, **kwargs
    ) -> Any:
        for i, ep in enumerate(episodes):
            if isinstance(ep, MultiAgentEpisode):
                new = copy.copy(ep)
                new.agent_episodes = {
                    aid: _with_clipped_rewards(sa, self.clip)
                    for aid, sa in ep.agent_episodes.items()
                }
                episodes[i] = new
            else:
                episodes[i] = _with_clipped_rewards(ep, self.clip)
        return batch
