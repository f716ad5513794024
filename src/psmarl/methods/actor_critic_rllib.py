"""RLlib classes of A2C and TRPO (see :mod:`psmarl.methods.actor_critic` for the method).

Both subclass PPO's config, algorithm (synchronous sampling, one ``LearnerGroup.update``
per train batch) and torch learner (GAE learner connector, entropy schedule), and keep
PPO's default RLModule, so checkpoints, Ray runners and ``RLModule.from_checkpoint`` work
as for PPO. They replace only the update of one train batch.
"""

from __future__ import annotations

from typing import Any

import torch
import tree
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.ppo.ppo import LEARNER_RESULTS_KL_KEY, PPO, PPOConfig
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import ENTROPY_KEY, POLICY_LOSS_KEY, VF_LOSS_KEY
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.annotations import override

from psmarl.methods.loss_reduction import LossReductionConfig, reduced
from psmarl.methods.trust_region import trust_region_step


# ---------------------------------------------------------------- shared pieces
class OnePassConfig(PPOConfig):
    """PPO's config with exactly one full-batch update per train batch and no KL term.

    PPO's settings that these algorithms do not have are removed from the instance, so
    psmarl's settings check (``hasattr``) rejects them as unknown keys.
    """

    NOT_SETTINGS: tuple[str, ...] = (
        "clip_param",
        "vf_clip_param",
        "kl_coeff",
        "kl_target",
        "use_critic",
    )

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class)
        for key in self.NOT_SETTINGS:
            if key in vars(self):
                delattr(self, key)
        self.num_epochs = 1
        self.minibatch_size = None
        self.use_kl_loss = False
        # plain advantages R - V(s); True: PPO's per-batch standardized GAE advantages
        self.standardize_advantages = False

    @override(PPOConfig)
    def training(self, *, standardize_advantages=NotProvided, **kwargs):
        super().training(**kwargs)
        if standardize_advantages is not NotProvided:
            self.standardize_advantages = bool(standardize_advantages)
        return self

    @override(PPOConfig)
    def validate(self) -> None:
        super().validate()
        name = self.algo_class.__name__ if self.algo_class else type(self).__name__
        if self.num_epochs != 1:
            self._value_error(
                f"{name} makes one update per train batch: num_epochs must be "
                f"1, got {self.num_epochs}"
            )
        if self.minibatch_size is not None:
            self._value_error(
                f"{name} updates on the whole train batch: minibatch_size "
                f"must be None, got {self.minibatch_size}"
            )
        if self.use_kl_loss:
            self._value_error(f"{name} has no KL penalty term: use_kl_loss must be False")
        given = sorted(k for k in self.NOT_SETTINGS if k in vars(self))
        if given:
            self._value_error(f"{name} has no setting(s) {given} (PPO's, unused here)")


def masked_mean_fn(batch: dict[str, Any]):
    """Mean over the real timesteps (PPO's connector adds one masked step per chunk)."""
    if Columns.LOSS_MASK in batch:
        mask = batch[Columns.LOSS_MASK]
        n = torch.sum(mask)
        return lambda x: torch.sum(x[mask]) / n
    return torch.mean


def advantages(config, batch: dict[str, Any], values) -> torch.Tensor:
    """A2C/TRPO advantages: ``R - V(s)`` (GAE value target minus the value the GAE
    connector used, i.e. the current value function), or PPO's standardized ones."""
    if config.standardize_advantages:
        return batch[Postprocessing.ADVANTAGES]
    return (batch[Postprocessing.VALUE_TARGETS] - values).detach()


def value_loss(values, batch: dict[str, Any], mean) -> torch.Tensor:
    """Half mean squared error to the value targets (A3C's ``0.5 * (V - R)^2``)."""
    return 0.5 * mean(torch.pow(values - batch[Postprocessing.VALUE_TARGETS], 2.0))


# ---------------------------------------------------------------- A2C
class A2CTorchLearner(PPOTorchLearner):
    """Plain advantage actor-critic loss; with num_epochs 1 and no minibatches the
    Learner takes one optimizer step on the whole batch."""

    @override(PPOTorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        module = self.module[module_id].unwrapped()
        mean = masked_mean_fn(batch)
        dist = module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        logp = dist.logp(batch[Columns.ACTIONS])
        values = module.compute_values(batch, embeddings=fwd_out.get(Columns.EMBEDDINGS))
        adv = advantages(config, batch, values)
        entropy = mean(dist.entropy())
        policy_loss = -mean(logp * adv)
        vf_loss = value_loss(values, batch, mean)
        coeff = self.entropy_coeff_schedulers_per_module[module_id].get_current_value()
        total = policy_loss + config.vf_loss_coeff * vf_loss - coeff * entropy
        self.metrics.log_dict(
            {POLICY_LOSS_KEY: policy_loss, VF_LOSS_KEY: vf_loss, ENTROPY_KEY: entropy},
            key=module_id,
            window=1,
        )
        return reduced(total, batch, config)  # old A3C's sum by default


class A2C(PPO):
    @classmethod
    @override(PPO)
    def get_default_config(cls) -> A2CConfig:
        return A2CConfig()


class A2CConfig(LossReductionConfig, OnePassConfig):
    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or A2C)
        # old RLlib A3C/A2C defaults (the paper's table sets the rest)
        self.lr = 7e-4
        self.lambda_ = 1.0
        self.vf_loss_coeff = 0.5
        self.entropy_coeff = 0.01
        self.grad_clip = 40.0
        self.train_batch_size_per_learner = 512

    @override(PPOConfig)
    def get_default_learner_class(self):
        return A2CTorchLearner


# ---------------------------------------------------------------- TRPO
def split_parameters(module) -> tuple[list, list]:
    """(policy parameters, value-function parameters) of a PPO-style RLModule, by
    RLlib's own list of the attributes inference does not need (value head/encoder)."""
    value_attrs = list(module.get_non_inference_attributes())
    policy, value = [], []
    for name, p in module.named_parameters():
        is_value = any(name == a or name.startswith(a + ".") for a in value_attrs)
        (value if is_value else policy).append(p)
    return policy, value


class TRPOTorchLearner(PPOTorchLearner):
    """Natural-gradient policy step with a KL line search, then value regression."""

    @override(PPOTorchLearner)
    def configure_optimizers_for_module(self, module_id, config=None):
        module = self._module[module_id]
        _, value_params = split_parameters(module)
        # only the value function has an optimizer; the policy moves by the TRPO step. With
        # vf_share_layers the shared layers count as the policy's: only the value head
        # regresses, on top of them.
        self.register_optimizer(
            module_id=module_id,
            optimizer=torch.optim.Adam(value_params),
            params=value_params,
            lr_or_lr_schedule=config.lr,
        )

    @override(PPOTorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        module = self.module[module_id].unwrapped()
        values = module.compute_values(batch)
        vf_loss = value_loss(values, batch, masked_mean_fn(batch))
        self.metrics.log_value((module_id, VF_LOSS_KEY), vf_loss, window=1)
        return vf_loss

    def _policy_step(self, module_id, batch) -> None:
        module = self.module[module_id].unwrapped()
        config = self.config.get_config_for_module(module_id)
        mean = masked_mean_fn(batch)
        dist_cls = module.get_train_action_dist_cls()
        actions = batch[Columns.ACTIONS]
        with torch.no_grad():
            old_inputs = module.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
            old_dist = dist_cls.from_logits(old_inputs)
            old_logp = old_dist.logp(actions)
            adv = advantages(config, batch, module.compute_values(batch))
        coeff = float(self.entropy_coeff_schedulers_per_module[module_id].get_current_value())

        def current():
            return dist_cls.from_logits(module.forward_train(batch)[Columns.ACTION_DIST_INPUTS])

        def surrogate():
            d = current()
            ratio = torch.exp(d.logp(actions) - old_logp)
            return mean(ratio * adv) + coeff * mean(d.entropy())

        def kl():
            return mean(old_dist.kl(current()))

        fisher_kl = kl
        every = round(1.0 / config.fisher_fraction)
        if every > 1:  # Fisher-vector products on every k-th row (the line search uses all)
            n = actions.shape[0]
            sub = tree.map_structure(
                lambda v: v[::every] if torch.is_tensor(v) and v.ndim and v.shape[0] == n else v,
                batch,
            )
            sub_old, sub_mean = dist_cls.from_logits(old_inputs[::every]), masked_mean_fn(sub)

            def fisher_kl():
                d = dist_cls.from_logits(module.forward_train(sub)[Columns.ACTION_DIST_INPUTS])
                return sub_mean(sub_old.kl(d))

        policy_params, _ = split_parameters(module)
        stats = trust_region_step(
            policy_params,
            surrogate,
            kl,
            max_kl=config.max_kl,
            cg_iters=config.cg_iters,
            cg_damping=config.cg_damping,
            line_search_steps=config.line_search_steps,
            line_search_coeff=config.line_search_coeff,
            fisher_kl=fisher_kl,
        )
        with torch.no_grad():
            d = current()
            entropy = mean(d.entropy())
            policy_loss = -mean(torch.exp(d.logp(actions) - old_logp) * adv)
        self.metrics.log_dict(
            {
                POLICY_LOSS_KEY: policy_loss,
                ENTROPY_KEY: entropy,
                LEARNER_RESULTS_KL_KEY: stats["kl"],
                "trpo_step_accepted": stats["accepted"],
                "trpo_step_fraction": stats["step_fraction"],
                "trpo_expected_improvement": stats["expected_improvement"],
            },
            key=module_id,
            window=1,
        )

    @override(PPOTorchLearner)
    def _uncompiled_update(self, batch: dict, **kwargs):
        module_ids = [mid for mid in batch if mid in self.module]
        for mid in module_ids:
            self._policy_step(mid, batch[mid])
        config = self.config
        fwd_out = loss_per_module = None
        for _ in range(max(1, int(config.vf_iters))):
            fwd_out = self.module.forward_train(batch)
            loss_per_module = self.compute_losses(fwd_out=fwd_out, batch=batch)
            if config.vf_iters > 0:
                grads = self.compute_gradients(loss_per_module)
                self.apply_gradients(self.postprocess_gradients(grads))
        return fwd_out, loss_per_module, {}


class TRPO(PPO):
    @classmethod
    @override(PPO)
    def get_default_config(cls) -> TRPOConfig:
        return TRPOConfig()


class TRPOConfig(OnePassConfig):
    # the value function has its own optimizer: no weight against a policy loss
    NOT_SETTINGS = OnePassConfig.NOT_SETTINGS + ("vf_loss_coeff",)

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or TRPO)
        self.max_kl = 0.01
        self.cg_iters = 10
        self.cg_damping = 0.1
        self.line_search_steps = 15
        self.line_search_coeff = 0.8
        self.vf_iters = 5
        # share of the batch for Fisher-vector products (1: all, as rllab; baselines: 0.2)
        self.fisher_fraction = 1.0
        self.lr = 1e-3  # the value function's Adam step size
        self.lambda_ = 0.97
        self.entropy_coeff = 0.0
        self.standardize_advantages = True
        self.train_batch_size_per_learner = 8000

    @override(OnePassConfig)
    def training(
        self,
        *,
        max_kl=NotProvided,
        cg_iters=NotProvided,
        cg_damping=NotProvided,
        line_search_steps=NotProvided,
        line_search_coeff=NotProvided,
        vf_iters=NotProvided,
        fisher_fraction=NotProvided,
        **kwargs,
    ):
        super().training(**kwargs)
        for key, value in (
            ("max_kl", max_kl),
            ("cg_iters", cg_iters),
            ("cg_damping", cg_damping),
            ("line_search_steps", line_search_steps),
            ("line_search_coeff", line_search_coeff),
            ("vf_iters", vf_iters),
            ("fisher_fraction", fisher_fraction),
        ):
            if value is not NotProvided:
                setattr(self, key, value)
        return self

    @override(OnePassConfig)
    def validate(self) -> None:
        super().validate()
        if not self.max_kl > 0:
            self._value_error(f"TRPO: max_kl must be positive, got {self.max_kl}")
        if not 0 < self.fisher_fraction <= 1:
            self._value_error(
                f"TRPO: fisher_fraction must be in (0, 1], got {self.fisher_fraction}"
            )
        if not 0 < self.line_search_coeff < 1:
            self._value_error(
                f"TRPO: line_search_coeff must be in (0, 1), got {self.line_search_coeff}"
            )

    @override(PPOConfig)
    def get_default_learner_class(self):
        return TRPOTorchLearner
