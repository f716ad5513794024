"""RLlib classes of psmarl's continuous off-policy family: TD3, DDPG and ApeX-DDPG.

RLlib removed DDPG, TD3 and ApeX-DDPG from its new API stack; they come back here as one
algorithm family built on the off-policy abstractions RLlib's SAC uses:

- :class:`DDPGConfig` subclasses ``SACConfig`` (replay buffer, n-step, tau, actor/critic
  learning rates, learning starts, the NEXT_OBS learner connector), :class:`DDPG` subclasses
  ``SAC`` (itself DQN's training loop: sample -> replay buffer -> learner update ->
  priorities -> weight sync).
- :class:`DDPGTorchRLModule`: a deterministic tanh actor (actions in RLlib's normalized
  space [-1, 1]; ``normalize_actions=True`` maps them onto the env's bounds), one or two
  critics Q(s, a), and target copies of all of them (``TargetNetworkAPI``).
- :class:`DDPGTorchLearner` subclasses DQN's torch learner: critic loss to the target
  ``r + gamma^n (1 - terminated) Q'(s', pi'(s') [+ clipped noise])`` (min over the twin
  target critics with ``twin_q``), actor loss ``-Q1(s, pi(s))``; the actor and the target
  networks are updated only every ``policy_delay``-th update.

TD3 = twin_q, smooth_target_policy and policy_delay 2 on; DDPG = all three off (same code).
ApeX-DDPG = DDPG with prioritized replay, n-step returns, and each env runner exploring
with its own noise scale from Ape-X's schedule (:mod:`psmarl.methods.apex`).

The shared replay mixins live in :mod:`psmarl.methods.replay_step`. This module imports
RLlib; the light spec lives in :mod:`psmarl.methods.ddpg`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.dqn.torch.dqn_torch_learner import DQNTorchLearner
from ray.rllib.algorithms.sac import SAC, SACConfig
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import POLICY_LOSS_KEY, Learner
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, QNetAPI, TargetNetworkAPI
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from ray.rllib.models.utils import get_activation_fn
from ray.rllib.utils.metrics import (
    ALL_MODULES,
    TD_ERROR_KEY,
)
from torch import nn

from psmarl.methods.apex import apex_epsilon
from psmarl.methods.replay_step import (
    AcceptsAgentScaledBuffer,
    HeldIntensity,
    IterationSizeInTraining,
    ReplayLoopSettings,
    SeededReplayBuffer,
    target_clock,
    update_targets,
)

QF_PREDS = "qf_preds"
QF_TWIN_PREDS = "qf_twin_preds"
QF_TARGET_NEXT = "q_target_next"
Q_CURR = "q_curr"  # Q1(s, pi(s)), critic weights frozen: the actor's objective


# ------------------------------------------------------------------ RLModule
def _mlp(
    n_in: int,
    hiddens: list[int],
    n_out: int,
    activation: str,
    out_activation: nn.Module | None = None,
) -> nn.Sequential:
    act_cls = get_activation_fn(activation, framework="torch")
    layers: list[nn.Module] = []
    for h in hiddens:
        layers += [nn.Linear(n_in, int(h)), act_cls() if act_cls is not None else nn.Identity()]
        n_in = int(h)
    layers.append(nn.Linear(n_in, n_out))
    if out_activation is not None:
        layers.append(out_activation)
    return nn.Sequential(*layers)


class DDPGTorchRLModule(TorchRLModule, InferenceOnlyAPI, TargetNetworkAPI, QNetAPI):
    """Deterministic actor and one or two critics (TD3/DDPG).

    ``model_config`` keys: ``fcnet_hiddens`` / ``fcnet_activation`` (actor, and critics
    unless ``critic_hiddens`` is set), ``twin_q``, ``smooth_target_policy``,
    ``target_noise``, ``target_noise_clip``, ``exploration_noise`` (Gaussian stddev in the
    normalized action space), ``pure_exploration_steps`` (uniform random actions before).
    ``exploration_scale`` multiplies the exploration noise (Ape-X sets it per env runner;
    it is not part of the module's state, so weight syncs leave it alone).
    """

    framework: str = "torch"
    LOW, HIGH = -1.0, 1.0  # RLlib's normalized action space

    def setup(self):
        if not isinstance(self.action_space, gym.spaces.Box):
            raise TypeError(
                f"TD3/DDPG need a continuous (Box) action space, got {self.action_space}"
            )
        mc = self.model_config
        self.obs_dim = int(np.prod(self.observation_space.shape))
        self.act_dim = int(np.prod(self.action_space.shape))
        hiddens = list(mc.get("fcnet_hiddens", [400, 300]))
        activation = mc.get("fcnet_activation", "relu")
        critic_hiddens = list(mc.get("critic_hiddens") or hiddens)
        self.twin_q = bool(mc.get("twin_q", False))
        self.smooth_target_policy = bool(mc.get("smooth_target_policy", False))
        self.target_noise = float(mc.get("target_noise", 0.2))
        self.target_noise_clip = float(mc.get("target_noise_clip", 0.5))
        self.exploration_noise = float(mc.get("exploration_noise", 0.1))
        self.pure_exploration_steps = int(mc.get("pure_exploration_steps", 0))
        self.exploration_scale = 1.0

        self.pi = _mlp(self.obs_dim, hiddens, self.act_dim, activation, nn.Tanh())
        if not self.inference_only:
            n_q_in = self.obs_dim + self.act_dim
            self.qf = _mlp(n_q_in, critic_hiddens, 1, activation)
            if self.twin_q:
                self.qf_twin = _mlp(n_q_in, critic_hiddens, 1, activation)

    # -- helpers
    def _flat(self, obs):
        return obs.reshape(obs.shape[0], -1).float()

    @staticmethod
    def _q(net: nn.Module, obs, actions):
        return net(torch.cat([obs, actions.reshape(actions.shape[0], -1).float()], -1)).squeeze(-1)

    def _critic_params(self):
        nets = [self.qf] + ([self.qf_twin] if self.twin_q else [])
        return [p for n in nets for p in n.parameters()]

    # -- forward passes
    def _forward_inference(self, batch: dict, **kwargs) -> dict[str, Any]:
        return {Columns.ACTIONS: self.pi(self._flat(batch[Columns.OBS]))}

    def _forward_exploration(self, batch: dict, t: int | None = None, **kwargs) -> dict[str, Any]:
        actions = self.pi(self._flat(batch[Columns.OBS]))
        if t is not None and t < self.pure_exploration_steps:
            actions = torch.empty_like(actions).uniform_(self.LOW, self.HIGH)
        else:
            std = self.exploration_noise * self.exploration_scale
            if std > 0:
                actions = (actions + std * torch.randn_like(actions)).clamp(self.LOW, self.HIGH)
        return {Columns.ACTIONS: actions}

    def _forward_train(self, batch: dict, **kwargs) -> dict[str, Any]:
        obs = self._flat(batch[Columns.OBS])
        out = {QF_PREDS: self._q(self.qf, obs, batch[Columns.ACTIONS])}
        if self.twin_q:
            out[QF_TWIN_PREDS] = self._q(self.qf_twin, obs, batch[Columns.ACTIONS])
        # The actor's objective Q1(s, pi(s)): gradients flow into the actor only (the
        # critic's weights are frozen for this pass, as RLlib's SAC does).
        params = self._critic_params()
        for p in params:
            p.requires_grad_(False)
        out[Q_CURR] = self._q(self.qf, obs, self.pi(obs))
        for p in params:
            p.requires_grad_(True)
        with torch.no_grad():
            out[QF_TARGET_NEXT] = self.target_q(batch[Columns.NEXT_OBS])
        return out

    # -- TD3's target: smoothing and clipped double Q
    def target_actions(self, next_obs) -> torch.Tensor:
        """pi'(s') plus, with target smoothing, noise ~ clip(N(0, target_noise), +-clip),
        the sum clipped to the action bounds."""
        actions = self.target_pi(self._flat(next_obs))
        if self.smooth_target_policy:
            noise = (torch.randn_like(actions) * self.target_noise).clamp(
                -self.target_noise_clip, self.target_noise_clip
            )
            actions = (actions + noise).clamp(self.LOW, self.HIGH)
        return actions

    def target_q(self, next_obs, next_actions=None) -> torch.Tensor:
        """Q'(s', a') for a' = :meth:`target_actions` (or the given actions): the minimum of
        the two target critics with ``twin_q``, else the single target critic."""
        obs = self._flat(next_obs)
        if next_actions is None:
            next_actions = self.target_actions(obs)
        q = self._q(self.target_qf, obs, next_actions)
        if self.twin_q:
            q = torch.min(q, self._q(self.target_qf_twin, obs, next_actions))
        return q

    @staticmethod
    def _bellman_target(rewards, terminateds, q_target_next, gamma, n_step):
        """r + gamma^n * (1 - terminated) * Q'(s', a') (no gradient)."""
        return (rewards + (gamma**n_step) * (1.0 - terminateds.float()) * q_target_next).detach()

    # -- RLlib APIs
    def make_target_networks(self):
        self.target_pi = make_target_network(self.pi)
        self.target_qf = make_target_network(self.qf)
        if self.twin_q:
            self.target_qf_twin = make_target_network(self.qf_twin)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        pairs = [(self.pi, self.target_pi), (self.qf, self.target_qf)]
        if self.twin_q:
            pairs.append((self.qf_twin, self.target_qf_twin))
        return pairs

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {QF_TARGET_NEXT: self.target_q(batch[Columns.OBS])}

    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        obs = self._flat(batch[Columns.OBS])
        return {QF_PREDS: self._q(self.qf, obs, batch[Columns.ACTIONS])}

    def get_non_inference_attributes(self) -> list[str]:
        names = ["qf", "target_qf", "target_pi"]
        if self.twin_q:
            names += ["qf_twin", "target_qf_twin"]
        return names

    def get_initial_state(self) -> dict:
        return {}


# ------------------------------------------------------------------ Learner
class DDPGTorchLearner(DQNTorchLearner):
    """Critic and actor losses of TD3/DDPG; delayed actor and target updates."""

    def build(self) -> None:
        super().build()
        self._temp_losses: dict[tuple[str, str], torch.Tensor] = {}
        # gradient updates done per module (the policy_delay phase)
        self.num_updates: dict[str, int] = defaultdict(int)

    def configure_optimizers_for_module(self, module_id, config=None) -> None:
        module = self._module[module_id]
        critic = self.get_parameters(module.qf)
        if config.twin_q:
            critic += self.get_parameters(module.qf_twin)
        self.register_optimizer(
            module_id=module_id,
            optimizer_name="qf",
            optimizer=torch.optim.Adam(critic),
            params=critic,
            lr_or_lr_schedule=config.critic_lr,
        )
        actor = self.get_parameters(module.pi)
        self.register_optimizer(
            module_id=module_id,
            optimizer_name="policy",
            optimizer=torch.optim.Adam(actor),
            params=actor,
            lr_or_lr_schedule=config.actor_lr,
        )

    def actor_update_due(self, module_id, config) -> bool:
        """True on updates 0, d, 2d, ... (d = policy_delay) of this module."""
        return self.num_updates[module_id] % int(config.policy_delay) == 0

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        target = DDPGTorchRLModule._bellman_target(
            batch[Columns.REWARDS],
            batch[Columns.TERMINATEDS],
            fwd_out[QF_TARGET_NEXT],
            config.gamma,
            batch["n_step"],
        )
        weights = batch.get("weights")
        if weights is None:
            weights = torch.ones_like(target)
        td = fwd_out[QF_PREDS] - target
        critic_loss = torch.mean(weights * td.pow(2))
        td_abs = td.abs()
        if config.twin_q:
            td_twin = fwd_out[QF_TWIN_PREDS] - target
            critic_loss = critic_loss + torch.mean(weights * td_twin.pow(2))
            td_abs = 0.5 * (td_abs + td_twin.abs())
        actor_loss = -torch.mean(fwd_out[Q_CURR])

        self.metrics.log_value(
            key=(module_id, TD_ERROR_KEY), value=td_abs.detach(), reduce="item_series"
        )
        self.metrics.log_dict(
            {
                POLICY_LOSS_KEY: actor_loss,
                "qf_loss": critic_loss,
                "qf_mean": torch.mean(fwd_out[QF_PREDS]),
                "td_error_mean": torch.mean(td_abs),
            },
            key=module_id,
            window=1,
        )
        self._temp_losses[(module_id, "qf")] = critic_loss
        self._temp_losses[(module_id, "policy")] = actor_loss
        return critic_loss + actor_loss

    def compute_gradients(self, loss_per_module, **kwargs):
        grads = {}
        for module_id in set(loss_per_module) - {ALL_MODULES}:
            config = self.config.get_config_for_module(module_id)
            for name, optim in self.get_optimizers_for_module(module_id):
                optim.zero_grad(set_to_none=True)
                loss = self._temp_losses.pop((module_id, name))
                if name == "policy" and not self.actor_update_due(module_id, config):
                    continue  # delayed actor: no gradient, Adam skips these parameters
                loss.backward(retain_graph=True)
                grads.update(
                    {
                        pid: p.grad
                        for pid, p in self.filter_param_dict_for_optimizer(
                            self._params, optim
                        ).items()
                        if p.grad is not None
                    }
                )
        self._temp_losses.clear()
        return grads

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        """Polyak-update the targets on the actor's updates only (every policy_delay-th),
        and at most once per ``target_network_update_freq`` env steps sampled (or samples
        trained, with ``target_network_update_unit: trained``: old Ape-X)."""
        Learner.after_gradient_based_update(self, timesteps=timesteps)
        timestep = target_clock(self.config, timesteps)
        for module_id, module in self.module._rl_modules.items():
            if not self.should_module_be_updated(module_id):
                continue
            config = self.config.get_config_for_module(module_id)
            due = self.actor_update_due(module_id, config)
            self.num_updates[module_id] += 1
            since = timestep - self.last_update_ts_by_mid[module_id]
            if due and since >= config.target_network_update_freq:
                update_targets(self, module_id, module, timestep)


# ------------------------------------------------------------------ Config / Algorithm
_MODULE_KEYS = (
    "twin_q",
    "critic_hiddens",
    "smooth_target_policy",
    "target_noise",
    "target_noise_clip",
    "exploration_noise",
    "pure_exploration_steps",
)


class DDPGConfig(ReplayLoopSettings, AcceptsAgentScaledBuffer, IterationSizeInTraining, SACConfig):
    """DDPG (old RLlib's defaults, Gaussian exploration). TD3/ApeX-DDPG set other defaults.

    SAC's entropy settings (``initial_alpha``, ``alpha_lr``, ``target_entropy``) are
    inherited but unused.
    """

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or DDPG)
        self.twin_q = False
        self.policy_delay = 1
        self.smooth_target_policy = False
        self.target_noise = 0.2
        self.target_noise_clip = 0.5
        self.exploration_noise = 0.1
        self.pure_exploration_steps = 1000
        self.per_runner_exploration = False
        self.critic_hiddens = None
        self.actor_lr = 1e-3
        self.critic_lr = 1e-3
        self.tau = 0.002
        self.target_network_update_freq = 0
        self.n_step = 1
        self.replay_buffer_config = {
            "type": "PrioritizedEpisodeReplayBuffer",
            "capacity": 50000,
            "alpha": 0.6,
            "beta": 0.4,
        }
        self.num_steps_sampled_before_learning_starts = 1500
        self.train_batch_size_per_learner = 256
        self.min_sample_timesteps_per_iteration = 1000

    def training(
        self,
        *,
        policy_delay=NotProvided,
        smooth_target_policy=NotProvided,
        target_noise=NotProvided,
        target_noise_clip=NotProvided,
        exploration_noise=NotProvided,
        pure_exploration_steps=NotProvided,
        per_runner_exploration=NotProvided,
        critic_hiddens=NotProvided,
        **kwargs,
    ):
        super().training(**kwargs)
        for key, value in (
            ("policy_delay", policy_delay),
            ("smooth_target_policy", smooth_target_policy),
            ("target_noise", target_noise),
            ("target_noise_clip", target_noise_clip),
            ("exploration_noise", exploration_noise),
            ("pure_exploration_steps", pure_exploration_steps),
            ("per_runner_exploration", per_runner_exploration),
            ("critic_hiddens", critic_hiddens),
        ):
            if value is not NotProvided:
                setattr(self, key, value)
        return self

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.policy_delay, int) or self.policy_delay < 1:
            raise ValueError(f"policy_delay must be an integer >= 1, got {self.policy_delay!r}")
        for key in ("target_noise", "target_noise_clip", "exploration_noise"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)!r}")

    def get_default_rl_module_spec(self):
        return RLModuleSpec(module_class=DDPGTorchRLModule)

    def get_default_learner_class(self):
        return DDPGTorchLearner

    @property
    def _model_config_auto_includes(self):
        return super()._model_config_auto_includes | {k: getattr(self, k) for k in _MODULE_KEYS}


class TD3Config(DDPGConfig):
    """TD3 (Fujimoto et al., 2018): old RLlib's TD3 defaults."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or TD3)
        self.twin_q = True
        self.policy_delay = 2
        self.smooth_target_policy = True
        self.tau = 5e-3
        self.pure_exploration_steps = 10000
        self.num_steps_sampled_before_learning_starts = 10000
        self.train_batch_size_per_learner = 100
        self.replay_buffer_config = {"type": "EpisodeReplayBuffer", "capacity": 1000000}


class ApexDDPGConfig(DDPGConfig):
    """ApeX-DDPG (Horgan et al., 2018): old RLlib's defaults."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or ApexDDPG)
        self.per_runner_exploration = True
        self.n_step = 3
        self.replay_buffer_config = {
            "type": "PrioritizedEpisodeReplayBuffer",
            "capacity": 2000000,
            "alpha": 0.6,
            "beta": 0.4,
        }
        self.num_steps_sampled_before_learning_starts = 50000
        self.train_batch_size_per_learner = 512
        self.rollout_fragment_length = 50
        self.target_network_update_freq = 500000
        self.min_sample_timesteps_per_iteration = 25000


def runner_noise_scale(worker_index: int, num_workers: int) -> float:
    """Ape-X's exploration scale of env runner ``worker_index`` (1..N remote runners).

    Remote runner i gets ``apex_epsilon(i - 1, N)``; with no remote runners the local runner
    samples and gets the schedule's base; with remote runners the local one does not sample
    (0: greedy, as old RLlib's per-worker noise did).
    """
    if num_workers <= 0:
        return apex_epsilon(0, 1)
    if not worker_index:
        return 0.0
    return apex_epsilon(worker_index - 1, num_workers)


def set_runner_exploration(runner) -> float:
    """On an env runner: give its module(s) the runner's Ape-X exploration scale."""
    scale = runner_noise_scale(runner.worker_index or 0, runner.config.num_env_runners)
    module = runner.module
    modules = list(module.values()) if isinstance(module, MultiRLModule) else [module]
    for m in modules:
        m = m.unwrapped() if hasattr(m, "unwrapped") else m
        if isinstance(m, DDPGTorchRLModule):
            m.exploration_scale = scale
    return scale


class DDPG(HeldIntensity, SeededReplayBuffer, SAC):
    """DDPG/TD3 training loop: RLlib's DQN/SAC off-policy loop with psmarl's held training
    intensity (:mod:`psmarl.methods.replay_step`), and per-runner exploration scales set on
    the env runners when ``per_runner_exploration`` is on."""

    @classmethod
    def get_default_config(cls):
        return DDPGConfig()

    def setup(self, config):
        super().setup(config)
        self._set_exploration_scales()

    def _set_exploration_scales(self):
        if not self.config.per_runner_exploration:
            return
        self.env_runner_group.foreach_env_runner(set_runner_exploration, local_env_runner=True)

    def restore_env_runners(self, env_runner_group):
        restored = super().restore_env_runners(env_runner_group)
        if restored:
            self._set_exploration_scales()
        return restored


class TD3(DDPG):
    @classmethod
    def get_default_config(cls):
        return TD3Config()


class ApexDDPG(DDPG):
    @classmethod
    def get_default_config(cls):
        return ApexDDPGConfig()
