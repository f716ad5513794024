"""RLlib classes of the DQN family (imported lazily by :mod:`psmarl.methods.dqn`, so that
``import psmarl.methods`` stays free of RLlib and torch).

- :class:`PsmarlDQNConfig`: RLlib's ``DQNConfig`` whose ``noisy`` flag is real. RLlib 2.60
  accepts ``noisy=True`` and ignores it; here it selects :class:`RainbowDQNTorchRLModule`
  (so does a distributional dueling setup, whose dueling head RLlib 2.60 gets wrong).
- :class:`RainbowDQNTorchRLModule`: RLlib's default DQN module (encoder + advantage/Q head
  + optional dueling value head, distributional or not) with every linear layer of its Q
  heads (advantage and value streams, hidden and output layers, as in Fortunato et al.'s
  NoisyNet-DQN and old RLlib's ``noisy`` option) replaced by
  :class:`psmarl.methods.noisy.NoisyLinear`. Noise is resampled at each training forward
  pass (online and target heads, independently) and each exploration forward pass; inference
  uses the mean weights. Exploration is by the noise alone: epsilon-greedy is off.
- :class:`ApexDQNConfig`: DQN whose env runners each act with their own fixed epsilon from
  :func:`psmarl.methods.apex.apex_epsilon` (Horgan et al., 2018), set on the runner's
  module when the runner builds it (:class:`ApexSingleAgentEnvRunner`,
  :class:`ApexMultiAgentEnvRunner`).
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.dqn.default_dqn_rl_module import (
    ATOMS,
    QF_LOGITS,
    QF_PREDS,
    QF_PROBS,
)
from ray.rllib.algorithms.dqn.dqn import DQN, DQNConfig
from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import (
    DefaultDQNTorchRLModule,
)
from ray.rllib.algorithms.dqn.torch.dqn_torch_learner import DQNTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import Learner
from ray.rllib.core.models.base import ENCODER_OUT
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from ray.rllib.utils.schedules.scheduler import Scheduler

from psmarl.methods import noisy as nz
from psmarl.methods.apex import apex_epsilon
from psmarl.methods.replay_step import (
    HeldIntensity,
    ReplayLoopSettings,
    SeededReplayBuffer,
    target_clock,
    update_targets,
)


# ---------------------------------------------------------------- Rainbow module
class RainbowDQNTorchRLModule(DefaultDQNTorchRLModule):
    """RLlib's DQN module with (a) noisy linear layers in its Q heads when ``noisy`` is on and
    (b) a working dueling head for distributional Q-learning.

    (b): RLlib 2.60 adds a scalar value to every atom's logit and centres the advantages
    over the atoms; both cancel in the softmax, so its distributional "dueling" head is a
    plain one. Here, as in Rainbow (Hessel et al., 2018, Section "Dueling"), the value stream
    has one output per atom and the advantages are centred over the actions:
    ``logits(s, a) = v(s) + a(s, a) - mean_a' a(s, a')`` per atom.
    """

    def setup(self):
        self.uses_noisy = bool(self.model_config.get("noisy", False))
        self._atom_dueling = (
            bool(self.model_config.get("dueling"))
            and int(self.model_config.get("num_atoms", 1)) > 1
        )
        if self._atom_dueling:
            self.catalog.vf_head_config.output_layer_dim = int(self.model_config["num_atoms"])
        super().setup()
        if self.uses_noisy:
            sigma0 = float(self.model_config.get("std_init", 0.5))
            n = nz.noisify(self.af, sigma0)
            if self.uses_dueling:
                n += nz.noisify(self.vf, sigma0)
            if n == 0:
                raise RuntimeError("RainbowDQNTorchRLModule found no linear layer in its Q heads")

    def _qf_forward_helper(self, batch, encoder, head):
        if not self._atom_dueling:
            return super()._qf_forward_helper(batch, encoder, head)
        enc = encoder(batch)
        adv = self.compute_advantage_distribution(head["af"](enc[ENCODER_OUT]))
        value = head["vf"](enc[ENCODER_OUT])  # [B, atoms]
        a_logits = adv["logits"]  # [B, actions, atoms]
        logits = value.unsqueeze(-2) + a_logits - a_logits.mean(dim=-2, keepdim=True)
        probs = torch.softmax(logits, dim=-1)
        out = {
            ATOMS: adv[ATOMS],
            QF_LOGITS: logits,
            QF_PROBS: probs,
            QF_PREDS: torch.sum(adv[ATOMS] * probs, dim=-1),
        }
        if Columns.STATE_OUT in enc:
            out[Columns.STATE_OUT] = enc[Columns.STATE_OUT]
        return out

    def _online_heads(self):
        return [self.af] + ([self.vf] if self.uses_dueling else [])

    def _target_heads(self):
        heads = [getattr(self, "_target_af", None)]
        if self.uses_dueling:
            heads.append(getattr(self, "_target_vf", None))
        return [h for h in heads if h is not None]

    def _noise(self, on: bool, resample: bool, heads) -> None:
        for head in heads:
            nz.set_noise(head, on)
            if resample:
                nz.reset_noise(head)

    def _forward_inference(self, batch: dict[str, Any]) -> dict[str, Any]:
        # deterministic: the mean weights (evaluation, checkpoint policies)
        self._noise(False, False, self._online_heads())
        return super()._forward_inference(batch)

    def _forward_exploration(self, batch: dict[str, Any], t: int) -> dict[str, Any]:
        if not self.uses_noisy:
            return super()._forward_exploration(batch, t)
        # exploration by the noise: a fresh noise sample, then greedy (no epsilon)
        self._noise(True, True, self._online_heads())
        qf_outs = self.compute_q_values(batch)
        dist = self.get_exploration_action_dist_cls().from_logits(qf_outs[QF_PREDS])
        out = {Columns.ACTIONS: dist.to_deterministic().sample()}
        if Columns.STATE_OUT in qf_outs:
            out[Columns.STATE_OUT] = qf_outs[Columns.STATE_OUT]
        return out

    def _forward_train(self, batch: dict[str, Any]) -> dict[str, Any]:
        # independent fresh noise for the online and the target network (NoisyNet-DQN)
        self._noise(True, True, self._online_heads())
        self._noise(True, True, self._target_heads())
        return super()._forward_train(batch)


class PsmarlDQNTorchLearner(DQNTorchLearner):
    """RLlib's DQN learner whose target networks follow ``target_network_update_unit``
    (:func:`psmarl.methods.replay_step.target_clock`: env steps sampled, or samples trained
    as old RLlib's Ape-X counted them)."""

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        Learner.after_gradient_based_update(self, timesteps=timesteps)
        clock = target_clock(self.config, timesteps)
        for module_id, module in self.module._rl_modules.items():
            config = self.config.get_config_for_module(module_id)
            if (
                isinstance(module.unwrapped(), TargetNetworkAPI)
                and clock - self.last_update_ts_by_mid[module_id]
                >= config.target_network_update_freq
            ):
                update_targets(self, module_id, module, clock)


class PsmarlDQN(HeldIntensity, SeededReplayBuffer, DQN):
    """RLlib's DQN with psmarl's held training intensity and a seeded replay buffer."""

    @classmethod
    def get_default_config(cls):
        return PsmarlDQNConfig()


class PsmarlDQNConfig(ReplayLoopSettings, DQNConfig):
    """``DQNConfig`` with working noisy nets (``training(noisy=True, sigma0=...)``), the
    training intensity held exactly and target updates counted as configured
    (:mod:`psmarl.methods.replay_step`; algorithm :class:`PsmarlDQN`).

    ``training()`` also takes ``min_sample_timesteps_per_iteration`` (RLlib sets it in
    ``reporting()``): it is the paper's ``timesteps_per_iteration``, a training setting of
    the DQN family, and psmarl's config keeps it in the method's ``training`` group.
    """

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or PsmarlDQN)

    def get_default_learner_class(self):
        return PsmarlDQNTorchLearner

    def training(self, *, min_sample_timesteps_per_iteration=NotProvided, **kwargs):
        super().training(**kwargs)
        if min_sample_timesteps_per_iteration is not NotProvided:
            self.reporting(min_sample_timesteps_per_iteration=min_sample_timesteps_per_iteration)
        return self

    @property
    def _model_config_auto_includes(self) -> dict[str, Any]:
        return super()._model_config_auto_includes | {"noisy": bool(self.noisy)}

    def get_default_rl_module_spec(self):
        spec = super().get_default_rl_module_spec()
        if self.noisy or (self.dueling and self.num_atoms > 1):
            spec.module_class = RainbowDQNTorchRLModule
        return spec


# ---------------------------------------------------------------- Ape-X
def runner_epsilon(worker_index: int, num_env_runners: int) -> float:
    """The fixed epsilon of the env runner ``worker_index`` (RLlib: 0 = the local runner,
    1..N = the remote ones). Remote runner i is Ape-X actor i-1 of N; the local runner samples
    only when there is no remote one, and is then the single actor (epsilon = base)."""
    if num_env_runners <= 0:
        return apex_epsilon(0, 1)
    return apex_epsilon(max(int(worker_index), 1) - 1, int(num_env_runners))


class _ApexEpsilonMixin:
    """Gives the runner's module(s) a constant epsilon, this runner's Ape-X rate."""

    apex_epsilon: float | None = None

    def make_module(self):
        super().make_module()
        if self.module is None:
            return
        eps = runner_epsilon(self.worker_index or 0, self.config.num_env_runners)
        self.apex_epsilon = eps
        modules = (
            list(self.module.values()) if isinstance(self.module, MultiRLModule) else [self.module]
        )
        for m in modules:
            m = m.unwrapped() if hasattr(m, "unwrapped") else m
            if hasattr(m, "epsilon_schedule"):
                m.epsilon_schedule = Scheduler(fixed_value_or_schedule=eps, framework="torch")


class ApexSingleAgentEnvRunner(_ApexEpsilonMixin, SingleAgentEnvRunner):
    pass


class ApexMultiAgentEnvRunner(_ApexEpsilonMixin, MultiAgentEnvRunner):
    pass


class ApexDQNConfig(PsmarlDQNConfig):
    """DQN with Ape-X's per-runner epsilons (the runner class follows the env's kind unless
    one is set explicitly with ``env_runners(env_runner_cls=...)``)."""

    @property
    def env_runner_cls(self):
        explicit = self.__dict__.get("_apex_env_runner_cls")
        if explicit is not None:
            return explicit
        return ApexMultiAgentEnvRunner if self.is_multi_agent else ApexSingleAgentEnvRunner

    @env_runner_cls.setter
    def env_runner_cls(self, value):
        self.__dict__["_apex_env_runner_cls"] = value
