"""RLlib classes of psmarl's IMPALA (see :mod:`psmarl.methods.impala` for the method).

RLlib 2.60's IMPALA with one change: its learner's loss can be summed over the batch, as
old RLlib's V-trace loss was (``reduce_sum`` of the policy, value and entropy terms), so
that ``grad_clip`` acts on the same gradient as in the paper's runs (every IMPALA log's
``grad_gnorm`` is 40.0: clipped on every update). RLlib 2.60 averages the three terms; Adam
takes the same steps on either except where the clip acts.
"""

from __future__ import annotations

import torch
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.impala import IMPALA, IMPALAConfig
from ray.rllib.algorithms.impala.torch.impala_torch_learner import IMPALATorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.utils.annotations import override

#: how the learner reduces the loss over a batch's timesteps
LOSS_REDUCTIONS = ("sum", "mean")


class SummedLossIMPALALearner(IMPALATorchLearner):
    """RLlib's V-trace loss (the mean over the batch's real timesteps), times their number
    with ``loss_reduction: sum``."""

    @override(IMPALATorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        total = super().compute_loss_for_module(
            module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
        )
        if config.loss_reduction == "sum":
            total = total * torch.sum(batch[Columns.LOSS_MASK].float())
        return total


class PsmarlIMPALAConfig(IMPALAConfig):
    """IMPALA's config with ``training(loss_reduction=...)`` ("sum" by default, as old
    RLlib) and the learner above."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or IMPALA)
        self.loss_reduction = "sum"

    @override(IMPALAConfig)
    def training(self, *, loss_reduction=NotProvided, **kwargs):
        super().training(**kwargs)
        if loss_reduction is not NotProvided:
            self.loss_reduction = loss_reduction
        return self

    @override(IMPALAConfig)
    def validate(self) -> None:
        super().validate()
        if self.loss_reduction not in LOSS_REDUCTIONS:
            self._value_error(
                f"IMPALA's loss_reduction is 'sum' or 'mean', got {self.loss_reduction!r}"
            )

    @override(IMPALAConfig)
    def get_default_learner_class(self):
        return SummedLossIMPALALearner
