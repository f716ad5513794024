"""SAC (RLlib's own, continuous actions here) with the paper's hyperparameters (Table 2).

The algorithm is RLlib's SAC with two reproducibility fixes (``psmarl.methods.sac_rllib.
PsmarlSAC``): the replay buffer's sampling RNG is seeded from ``debugging(seed=...)``, and
iterations have no minimum wall-clock time (RLlib's 1 s default made the number of updates
per iteration depend on machine speed).

Also home of the limits the continuous off-policy methods share (SAC, DDPG, TD3,
ApeX-DDPG); their multi-agent replay buffers come from :mod:`psmarl.methods.replay`, as
DQN's. The RLlib classes live in :mod:`psmarl.methods.sac_rllib` (imported lazily).

Paper (old RLlib 0.9 SAC) name -> RLlib 2.60 new-stack name:

- sample_batch_size 20 -> env_runners.rollout_fragment_length 20
- train_batch_size 512 -> training.train_batch_size_per_learner 512
- learning_starts 1000 -> training.num_steps_sampled_before_learning_starts 1000
- buffer_size 1e5, prioritized_replay False -> training.replay_buffer_config
  {type: EpisodeReplayBuffer, capacity: 100000} (psmarl's multi-agent runs switch the type to
  its MultiAgent... twin with RLlib 0.9's per-policy capacity, see :mod:`psmarl.methods.replay`)
- optimization {actor,critic,entropy}_learning_rate 3e-4 -> training.actor_lr / critic_lr /
  alpha_lr 3e-4
- tau, target_entropy "auto", n_step 1, target_network_update_freq 1 -> same names
- timesteps_per_iteration 1000 -> training.min_sample_timesteps_per_iteration 1000 (an RLlib
  ``reporting`` setting; psmarl's config accepts it in ``training``, see below)
- clip_actions False -> training.clip_actions False
- Q_model {relu, [256, 256]} (the paper's table prints "[266, 256]"; its code,
  parameterSharing*.py, passes [256, 256]) and the old default policy_model {relu,
  [256, 256]} -> model.fcnet_hiddens [256, 256], fcnet_activation relu. RLlib 2.60's SAC
  module builds the policy and the Q networks from the same ``fcnet_hiddens``, which here
  matches both of the paper's nets.

Not matched exactly:

- normalize_actions False: old SAC squashed its Gaussian into the env's bounds itself; the
  new stack's SAC squashes into [-1, 1] and relies on ``normalize_actions=True`` (RLlib's
  default, kept) to map that onto the env's bounds. On waterworld and multiwalker the
  bounds are [-1, 1], so both are the same policy.
- no_done_at_end True / soft_horizon False: the new stack separates truncation from
  termination and bootstraps truncated episodes by itself, which is what no_done_at_end did.
- metrics_smoothing_episodes 5: the paper's SAC curves averaged over 5 episodes (topped
  up from earlier iterations only when fewer ended), not 100: psmarl reports both, the
  paper's as ``paper_avg_total_reward`` (``paper_measure: {window: 5}``).
  evaluation_interval 1: psmarl evaluates separately.
- updates per env step: one update of 512 per sampling round of 8 x 8 x 20 env steps in
  the paper's runs (its logs: 0.3999), ``training_intensity: 0.4`` here, held whatever the
  runner layout (:mod:`psmarl.methods.intensity`).
- horizon 200 (the paper's code cut SAC episodes at 200 steps): an env setting, not a
  method one; psmarl's env presets set ``max_cycles``.
- the old SAC used an MSE critic loss; RLlib 2.60's uses Huber (delta 1).
- clip_rewards: old RLlib did not clip rewards for non-Atari envs (False here).
"""

from __future__ import annotations

from dataclasses import dataclass

from psmarl.methods.replay import FragmentsOf20, UniformReplay, multi_agent_replay_buffer
from psmarl.methods.spec import MethodSpec, PaperMeasure, copied, settings_defaults


def _base():
    from psmarl.methods.sac_rllib import PsmarlSACConfig

    return PsmarlSACConfig()


@dataclass(frozen=True)
class SACTraining:
    """SAC's training settings: the paper's Table 2 (old names in the module docstring)."""

    actor_lr: float = 3e-4
    """policy learning rate (Table 2 optimization.actor_learning_rate)"""
    critic_lr: float = 3e-4
    """Q learning rate (Table 2 optimization.critic_learning_rate)"""
    alpha_lr: float = 3e-4
    """entropy-temperature learning rate (Table 2 optimization.entropy_learning_rate)"""
    gamma: float = 0.99
    """discount (Table 4)"""
    tau: float = 0.005
    """soft target-network update rate (Table 2)"""
    target_entropy: str | float = "auto"
    """entropy target ("auto": minus the action dimension; Table 2)"""
    n_step: int = 1
    """one-step TD targets (Table 2)"""
    target_network_update_freq: int = 1
    """target update every step (Table 2)"""
    train_batch_size_per_learner: int = 512
    """transitions per update (Table 2 train_batch_size)"""
    num_steps_sampled_before_learning_starts: int = 1000
    """env steps sampled before the first update (Table 2 learning_starts)"""
    replay_buffer_config: UniformReplay = copied(UniformReplay())
    """uniform replay, 1e5 transitions (Table 2 buffer_size, prioritized_replay False)"""
    min_sample_timesteps_per_iteration: int = 1000
    """env steps per iteration at least (Table 2 timesteps_per_iteration)"""
    clip_actions: bool = False
    """actions are not clipped (Table 2)"""
    training_intensity: float = 0.4
    """trained samples per sampled env step: one update of 512 per round of 8 x 8 x 20 env
    steps (the paper's logs: 0.3999)"""


@dataclass(frozen=True)
class SACModel:
    """RLlib's model settings of SAC: one MLP shape for the policy and the Q networks."""

    fcnet_hiddens: list[int] = copied([256, 256])
    """hidden layers of the policy and Q networks (Table 2 Q_model, printed [266, 256];
    the paper's code passes [256, 256]; old default policy_model [256, 256])"""
    fcnet_activation: str = "relu"
    """their activation (Table 2)"""


@dataclass(frozen=True)
class SACSettings:
    """SAC's psmarl defaults: RLlib config groups and psmarl's own keys."""

    training: SACTraining = copied(SACTraining())
    """training() settings of psmarl's SAC config"""
    model: SACModel = copied(SACModel())
    """RLlib's model settings"""
    env_runners: FragmentsOf20 = copied(FragmentsOf20())
    """RLlib's env_runners() settings"""
    clip_rewards: bool | float = False
    """no reward clipping (old RLlib clipped only Atari envs)"""
    paper_measure: PaperMeasure = copied(PaperMeasure(window=5))
    """the paper's SAC curves averaged 5 episodes (metrics_smoothing_episodes 5)"""


OFF_POLICY_LIMITS = {
    "training.gamma": (0, 1),
    "training.tau": (0, 1),
    "training.actor_lr": (0, None),
    "training.critic_lr": (0, None),
    "training.n_step": (1, None),
    "training.train_batch_size_per_learner": (1, None),
    "training.num_steps_sampled_before_learning_starts": (0, None),
    "training.target_network_update_freq": (0, None),
    "training.min_sample_timesteps_per_iteration": (0, None),
    "env_runners.rollout_fragment_length": (1, None),
}

SAC = MethodSpec(
    name="sac",
    family="off_policy_continuous",
    action_kinds=frozenset({"continuous"}),
    base_config=_base,
    defaults=settings_defaults(SACSettings),
    settings=SACSettings,
    customize=multi_agent_replay_buffer,
    description="Soft Actor-Critic (Haarnoja et al., 2018), RLlib's own",
    limits={
        **OFF_POLICY_LIMITS,
        "training.alpha_lr": (0, None),
        "training.initial_alpha": (0, None),
    },
)
