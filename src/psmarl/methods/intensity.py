"""Gradient updates per sampled env step of the replay-based methods, whatever the layout.

RLlib's off-policy loop (DQN, SAC and psmarl's DDPG family) samples one round from every
env runner and then does one update. Its updates per env step are therefore
``1 / (runners x envs x fragment)``: the same config trains a different algorithm on a laptop
(0 runners) and on a cluster (8 runners). RLlib's ``training_intensity`` does not fix this:
it rounds the updates (or rounds) per iteration to an integer and estimates the round as
``fragment x envs x (runners + 1)``.

psmarl holds ``training_intensity`` (trained samples per sampled env step, as old RLlib
counted them: one update of ``train_batch_size`` counts ``train_batch_size``, whatever the
number of modules it trains) exactly: after each sampling round the updates due are those
that bring the trained samples to ``intensity x env steps sampled since learning started``
(at most one batch below it), so the ratio over a run does not depend on how the env steps
were split into rounds. ``training_intensity: null`` keeps RLlib's one update per round.

The value may depend on the sharing mode (the paper's Ape-X learner trained one shared
policy, or 8 independent ones, per replayed batch: logs in ``docs/data/paper_logs.csv``)::

    training_intensity: {shared: 10.89, independent: 2.96}

Target networks: ``target_network_update_unit: trained`` counts ``target_network_update_freq``
in trained samples, as old RLlib's Ape-X did (``sampled``: RLlib 2.60's env steps sampled).

This module does not import RLlib; the algorithm side is :mod:`psmarl.methods.replay_step`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psmarl.errors import ConfigError

SHARING_KEYS = ("shared", "independent")
TARGET_UNITS = ("sampled", "trained")


def check(value: Any, where: str) -> None:
    """A ``training_intensity`` setting: null, a positive number, or {shared, independent}."""
    if value is None:
        return
    if isinstance(value, Mapping):
        bad = sorted(set(value) - set(SHARING_KEYS))
        if bad or not value:
            raise ConfigError(
                f"keys must be among {', '.join(SHARING_KEYS)}, got {sorted(value) or 'none'}",
                key=where,
            )
        for k, v in value.items():
            check(v, f"{where}.{k}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(
            f"must be a positive number (trained samples per sampled env step), "
            f"null, or a mapping by sharing mode; got {value!r}",
            key=where,
        )


def for_sharing(value: Any, shared: bool) -> float | None:
    """The intensity that applies to a run (``shared``: one module holds several agents)."""
    if isinstance(value, Mapping):
        value = value.get("shared" if shared else "independent")
    return None if value is None else float(value)


def updates_due(intensity: float, sampled_since_start: int, trained: int, batch_size: int) -> int:
    """Updates of ``batch_size`` samples that bring ``trained`` samples up to, and not past,
    ``intensity x sampled_since_start``."""
    if sampled_since_start <= 0:
        return 0
    target = intensity * sampled_since_start
    return max(0, math.floor((target - trained) / batch_size + 1e-9))


@dataclass(frozen=True)
class PerSharing:
    """A training_intensity per sharing mode (the paper's Ape-X logs differ by mode)."""

    shared: float
    """trained samples per sampled env step with one shared policy"""
    independent: float
    """the same with one policy per agent"""
