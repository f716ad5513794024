"""RLlib classes of psmarl's IMPALA (see :mod:`psmarl.methods.impala` for the method).

RLlib 2.60's IMPALA with one change: its learner's loss is summed over the batch by default,
as old RLlib's V-trace loss was (``loss_reduction``, :mod:`psmarl.methods.loss_reduction`).
"""

from __future__ import annotations

from ray.rllib.algorithms.impala import IMPALA, IMPALAConfig
from ray.rllib.algorithms.impala.torch.impala_torch_learner import IMPALATorchLearner
from ray.rllib.utils.annotations import override

from psmarl.methods.loss_reduction import LossReductionConfig, reduced


class SummedLossIMPALALearner(IMPALATorchLearner):
    """RLlib's V-trace loss (the mean over the batch's real timesteps), times their number
    with ``loss_reduction: sum``."""

    @override(IMPALATorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        total = super().compute_loss_for_module(
            module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
        )
        return reduced(total, batch, config)


class PsmarlIMPALAConfig(LossReductionConfig, IMPALAConfig):
    """IMPALA's config with ``training(loss_reduction=...)`` and the learner above."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or IMPALA)

    @override(IMPALAConfig)
    def get_default_learner_class(self):
        return SummedLossIMPALALearner
