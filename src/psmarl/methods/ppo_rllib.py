"""RLlib classes of psmarl's PPO: RLlib's PPO with the paper's value-function clipping.

``vf_clip_param`` means two different things in the two RLlib versions:

- old RLlib (the paper's runs, ray 0.8/0.9, ``ppo_tf_policy``) clipped the *prediction*, as
  PPO2 does: the new value may move at most ``vf_clip_param`` from the value predicted when
  the batch was sampled, and the loss is the larger of the clipped and unclipped squared
  errors;
- RLlib 2.x (``PPOTorchLearner``) clamps the *squared error* at ``vf_clip_param``, so every
  sample whose error exceeds sqrt(vf_clip_param) (3.2 at the paper's 10) gives the value
  function no gradient at all.

With the paper's sign-clipped rewards, value targets of tens are common (multiwalker:
old RLlib logged value losses of 20-50 with explained variance 0.5-0.7), so RLlib 2's clamp
leaves most samples without a value gradient. :class:`PaperPPOConfig` takes the setting
``vf_clip_to_previous`` (default True: old RLlib's clipping) and keeps everything else of
RLlib's PPO: its algorithm, RLModule and checkpoints.

RLlib 2.60's minibatch iterator (``MiniBatchCyclicIterator``) reshuffles the train batch
each time it wraps around it, so its first epoch is cut in the batch's own order: agent by
agent, trajectory by trajectory, each minibatch a few stretches of consecutive steps. Old
RLlib shuffled the batch before loading it (``shuffle_sequences``). ``shuffle_first_epoch``
(default False, RLlib 2's order) shuffles it before the first epoch too.

RLlib 2.60's PPO catalog initialises its policy and value heads with torch's defaults
whatever the model config says: it passes ``fcnet_kernel_initializer`` /
``fcnet_bias_initializer`` to the shared hidden layers only and ignores
``head_fcnet_kernel_initializer`` / ``head_fcnet_bias_initializer``. :class:`PaperPPOCatalog`
honours the head settings too, so the paper's network (``tf.layers.dense``: Glorot-uniform
kernels, zero biases, in every layer) can be built.
"""

from __future__ import annotations

import torch
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.ppo.ppo import (
    LEARNER_RESULTS_KL_KEY,
    LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY,
    LEARNER_RESULTS_VF_LOSS_UNCLIPPED_KEY,
    PPOConfig,
)
from ray.rllib.algorithms.ppo.ppo_catalog import PPOCatalog
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.connectors.learner import GeneralAdvantageEstimation
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import ENTROPY_KEY, POLICY_LOSS_KEY, VF_LOSS_KEY
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.annotations import override
from ray.rllib.utils.torch_utils import explained_variance

#: fraction of the samples whose value update the clipping held back (logged per module)
VF_CLIPPED_FRACTION_KEY = "vf_clipped_fraction"


def value_loss_clipped_to_previous(values, previous, targets, clip: float) -> torch.Tensor:
    """Per-sample value loss of old RLlib's PPO: the new prediction may move at most
    ``clip`` away from the prediction made when the batch was sampled; the loss is the
    larger of the squared errors of the unclipped and of the clipped prediction."""
    moved = previous + torch.clamp(values - previous, -clip, clip)
    return torch.maximum((values - targets) ** 2, (moved - targets) ** 2)


class SamplingValues(ConnectorV2):
    """Learner connector piece: each module's value predictions of the train batch, made
    before the update starts (with the weights the batch was sampled with), under
    ``Columns.VF_PREDS``. Placed before GAE, which computes the same predictions and
    drops them."""

    def __call__(self, *, rl_module, batch, episodes, **kwargs):
        for mid, module in rl_module.items():
            if mid in batch and isinstance(module, ValueFunctionAPI):
                with torch.no_grad():
                    batch[mid][Columns.VF_PREDS] = module.compute_values(batch[mid]).detach()
        return batch


def _head_initializers(model_config: dict) -> dict:
    """The head layers' initializer settings of an MLP head config, from the model config's
    ``head_fcnet_*`` keys (None: torch's default)."""
    out = {}
    for layers in ("hidden_layer", "output_layer"):
        for part, key in (("weights", "kernel"), ("bias", "bias")):
            out[f"{layers}_{part}_initializer"] = model_config.get(f"head_fcnet_{key}_initializer")
            out[f"{layers}_{part}_initializer_config"] = model_config.get(
                f"head_fcnet_{key}_initializer_kwargs"
            )
    return out


class PaperPPOCatalog(PPOCatalog):
    """RLlib's PPO catalog whose policy and value heads take ``head_fcnet_kernel_initializer``
    / ``head_fcnet_bias_initializer`` (and their ``_kwargs``) from the model config."""

    def __init__(self, observation_space, action_space, model_config_dict):
        super().__init__(observation_space, action_space, model_config_dict)
        for name, value in _head_initializers(self._model_config_dict).items():
            setattr(self.vf_head_config, name, value)

    @override(PPOCatalog)
    def build_pi_head(self, framework: str):
        super().build_pi_head(framework)  # sets self.pi_head_config
        for name, value in _head_initializers(self._model_config_dict).items():
            setattr(self.pi_head_config, name, value)
        return self.pi_head_config.build(framework=framework)


#: the learner state's entry of the KL penalty's current coefficients (one per module)
KL_COEFFS_STATE = "psmarl_curr_kl_coeffs"


class PaperPPOTorchLearner(PPOTorchLearner):
    """RLlib's PPO loss with the value loss of ``vf_clip_to_previous``; its checkpoints keep
    the KL penalty's adapted coefficients (RLlib 2.60's do not: a resumed run started again
    at ``kl_coeff``, 0.5 for the paper's runs, where an uninterrupted one had halved it to
    almost 0)."""

    @override(PPOTorchLearner)
    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        if components is None:  # the whole state (a checkpoint), not a weights sync
            state[KL_COEFFS_STATE] = {
                mid: float(v) for mid, v in self.curr_kl_coeffs_per_module.items()
            }
        return state

    @override(PPOTorchLearner)
    def set_state(self, state) -> None:
        super().set_state(state)
        for mid, value in (state.get(KL_COEFFS_STATE) or {}).items():
            self.curr_kl_coeffs_per_module[mid].data.fill_(float(value))

    @override(PPOTorchLearner)
    def build(self) -> None:
        super().build()
        if self.config.vf_clip_to_previous and self._learner_connector is not None:
            self._learner_connector.insert_before(GeneralAdvantageEstimation, SamplingValues())

    @override(PPOTorchLearner)
    def _create_iterator_if_necessary(self, *, training_data, **kwargs):
        if (
            self.config.shuffle_first_epoch
            and kwargs.get("minibatch_size")
            and kwargs.get("shuffle_batch_per_epoch")
            and not training_data.data_iterators
        ):
            from ray.rllib.core.learner.training_data import TrainingData

            # the learner connector runs here, once; the iterator then cuts the shuffled
            # batch (and reshuffles it whenever it wraps around, as before)
            batch = self._make_batch_if_necessary(training_data=training_data)
            for module_batch in batch.policy_batches.values():
                module_batch.shuffle()
            training_data = TrainingData(batch=batch)
        return super()._create_iterator_if_necessary(training_data=training_data, **kwargs)

    @override(PPOTorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        if not config.vf_clip_to_previous or not config.use_critic:
            return super().compute_loss_for_module(
                module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
            )
        module = self.module[module_id].unwrapped()
        if Columns.LOSS_MASK in batch:
            mask = batch[Columns.LOSS_MASK]

            def mean(t):
                return torch.sum(t[mask]) / mask.sum()
        else:
            mean = torch.mean

        # the clipped surrogate objective, as RLlib's PPO
        dist = module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        ratio = torch.exp(dist.logp(batch[Columns.ACTIONS]) - batch[Columns.ACTION_LOGP])
        adv = batch[Postprocessing.ADVANTAGES]
        surrogate = torch.min(
            adv * ratio, adv * torch.clamp(ratio, 1 - config.clip_param, 1 + config.clip_param)
        )
        entropy = dist.entropy()

        # the value loss of old RLlib
        values = module.compute_values(batch, embeddings=fwd_out.get(Columns.EMBEDDINGS))
        targets = batch[Postprocessing.VALUE_TARGETS]
        previous = batch[Columns.VF_PREDS]
        vf_loss = value_loss_clipped_to_previous(values, previous, targets, config.vf_clip_param)
        held = (torch.abs(values - previous) > config.vf_clip_param).float()

        coeff = self.entropy_coeff_schedulers_per_module[module_id].get_current_value()
        total = mean(-surrogate + config.vf_loss_coeff * vf_loss - coeff * entropy)
        if config.use_kl_loss:
            prev_dist = module.get_exploration_action_dist_cls().from_logits(
                batch[Columns.ACTION_DIST_INPUTS]
            )
            kl = mean(prev_dist.kl(dist))
            total = total + self.curr_kl_coeffs_per_module[module_id] * kl
        else:
            kl = torch.tensor(0.0, device=total.device)

        self.metrics.log_dict(
            {
                POLICY_LOSS_KEY: -mean(surrogate),
                VF_LOSS_KEY: mean(vf_loss),
                LEARNER_RESULTS_VF_LOSS_UNCLIPPED_KEY: mean((values - targets) ** 2),
                LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY: explained_variance(targets, values),
                VF_CLIPPED_FRACTION_KEY: mean(held),
                ENTROPY_KEY: mean(entropy),
                LEARNER_RESULTS_KL_KEY: kl,
            },
            key=module_id,
            window=1,
        )
        return total


class PaperPPOConfig(PPOConfig):
    """RLlib's PPOConfig plus ``vf_clip_to_previous`` (see the module's docstring)."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class)
        self.vf_clip_to_previous = True
        self.shuffle_first_epoch = False

    @override(PPOConfig)
    def training(
        self, *, vf_clip_to_previous=NotProvided, shuffle_first_epoch=NotProvided, **kwargs
    ):
        """``vf_clip_to_previous``: True (psmarl's default, old RLlib's and the paper's):
        the value prediction may move at most ``vf_clip_param`` per batch; False: RLlib 2's
        clamp of each sample's squared value error at ``vf_clip_param``.
        ``shuffle_first_epoch``: True shuffles the train batch before the first epoch, as
        old RLlib did; False (default) keeps RLlib 2's order (see the module docstring)."""
        super().training(**kwargs)
        if vf_clip_to_previous is not NotProvided:
            self.vf_clip_to_previous = bool(vf_clip_to_previous)
        if shuffle_first_epoch is not NotProvided:
            self.shuffle_first_epoch = bool(shuffle_first_epoch)
        return self

    @override(PPOConfig)
    def get_default_learner_class(self):
        return PaperPPOTorchLearner

    @override(PPOConfig)
    def get_default_rl_module_spec(self):
        spec = super().get_default_rl_module_spec()
        return RLModuleSpec(module_class=spec.module_class, catalog_class=PaperPPOCatalog)
