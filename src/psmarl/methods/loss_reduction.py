"""The ``loss_reduction`` setting of psmarl's A2C and IMPALA (their RLlib classes:
:mod:`psmarl.methods.actor_critic_rllib`, :mod:`psmarl.methods.impala_rllib`).

Old RLlib's A3C and V-trace losses were sums over the batch (``reduce_sum``), so their
``grad_clip`` of 40 acted on the sum's gradient: on every update of the paper's runs (every
A2C and IMPALA log's ``grad_gnorm`` is 40.0). RLlib 2.60's losses average over the batch,
whose gradient the clip almost never reaches. Adam takes the same steps on either except
where the clip acts. ``"sum"`` (the default) scales the mean loss by the batch's real
timesteps, ``"mean"`` keeps RLlib 2.60's.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core.columns import Columns

#: how a learner reduces its loss over a batch's timesteps
LOSS_REDUCTIONS = ("sum", "mean")


class LossReductionConfig:
    """Mixin of an RLlib ``AlgorithmConfig`` (listed before it): ``training(loss_reduction=
    ...)``, "sum" by default, checked by ``validate()``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_reduction = "sum"

    def training(self, *, loss_reduction=NotProvided, **kwargs):
        super().training(**kwargs)
        if loss_reduction is not NotProvided:
            self.loss_reduction = loss_reduction
        return self

    def validate(self) -> None:
        super().validate()  # type: ignore[misc]
        if self.loss_reduction not in LOSS_REDUCTIONS:
            raise ValueError(
                f"training.loss_reduction is 'sum' or 'mean', got {self.loss_reduction!r}"
            )


def real_steps(batch: dict[str, Any]) -> torch.Tensor | int:
    """The batch's timesteps without the masked ones (PPO's connector adds one per chunk)."""
    if Columns.LOSS_MASK in batch:
        return torch.sum(batch[Columns.LOSS_MASK])
    return len(batch[Columns.ACTIONS])


def reduced(total: torch.Tensor, batch: dict[str, Any], config: Any) -> torch.Tensor:
    """A loss averaged over ``batch`` as ``config.loss_reduction`` asks: times the batch's
    real timesteps for "sum" (the same direction, a gradient N times the mean's)."""
    if config.loss_reduction == "sum":
        return total * real_steps(batch)
    return total
