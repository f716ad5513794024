"""TD3, DDPG and ApeX-DDPG (removed from RLlib; one algorithm family in
:mod:`psmarl.methods.ddpg_rllib`) with the paper's hyperparameters (Table 2) as defaults.

Every setting the paper does not list keeps old RLlib's (0.8/0.9) default for that
algorithm, since that is what the paper ran. Old name -> RLlib 2.60 / psmarl name:

- sample_batch_size -> env_runners.rollout_fragment_length
- train_batch_size -> training.train_batch_size_per_learner
- learning_starts -> training.num_steps_sampled_before_learning_starts
- buffer_size, prioritized_replay, prioritized_replay_alpha, final_prioritized_replay_beta
  -> training.replay_buffer_config {type, capacity, alpha, beta} (RLlib's episode buffers;
  psmarl's multi-agent runs switch to their MultiAgent... twins)
- critic_hiddens -> training.critic_hiddens (the actor uses model.fcnet_hiddens, the
  paper's [400, 300] ReLU = old RLlib's actor_hiddens default)
- actor_lr, critic_lr, tau, n_step, twin_q, policy_delay, smooth_target_policy,
  target_noise, target_noise_clip, target_network_update_freq -> same names in training
- pure_exploration_steps (old exploration_config.random_timesteps) ->
  training.pure_exploration_steps
- exploration stddev (old GaussianNoise.stddev) -> training.exploration_noise
- Ape-X's per-worker noise (PerWorker... exploration) -> training.per_runner_exploration
  (scale of runner i from :func:`psmarl.methods.apex.apex_epsilon`)
- timesteps_per_iteration -> training.min_sample_timesteps_per_iteration

Not matched exactly:

- DDPG and ApeX-DDPG explored with Ornstein-Uhlenbeck noise in old RLlib; here all three
  use TD3's Gaussian noise (stddev 0.1, times the Ape-X scale for ApeX-DDPG).
- ApeX-DDPG's ``lr: 0.0001`` in the paper's table had no effect in old RLlib (DDPG's
  optimizers read ``actor_lr``/``critic_lr`` only), so actor_lr = critic_lr = 1e-3 here.
- ``beta_annealing_fraction 1.0`` / ``final_prioritized_replay_beta 1.0``: RLlib 2.60's
  buffers take a fixed beta; it is the final value 1.0 (old RLlib annealed 0.4 -> 1.0 over
  its first 20k steps). ``exploration_fraction`` (a DQN epsilon setting) did nothing for
  ApeX-DDPG and has no counterpart.
- Ape-X's replay shards, asynchronous learner and worker-side prioritization: one
  learner-side prioritized buffer, sampling and learning in turn, at the trained samples per
  sampled env step of the paper's logs (``training_intensity``: waterworld 10.60 shared /
  3.09 independent; multiwalker 6.26 / 2.25 in config/paper.yaml; docs/data/paper_logs.csv).
  target_network_update_freq counts trained samples as old Ape-X did
  (``target_network_update_unit: trained``); as in old RLlib, each target update is a soft
  one with ``tau``. Episode metrics come from the last third of the runners, as old Ape-X
  reported them (``paper_measure``).
- DDPG and TD3 (old RLlib's synchronous replay optimizer) did one update of 512 per
  sampling round of 8 workers x 8 envs x 20 steps: ``training_intensity: 0.4`` (the logs:
  0.3994-0.3997), held whatever the runner layout.
- old DDPG's l2_reg 1e-6 (weight decay) is not applied; no Huber loss (old default off).
- clip_rewards: old RLlib did not clip rewards for these (False).
- min_iter_time_s (old DDPG 1 s, Ape-X 30 s): iterations here have no wall-clock minimum
  (``min_time_s_per_iteration`` 0), so a seeded run repeats exactly; the replay buffer's
  sampling RNG is seeded from the run's seed too (RLlib 2.60 leaves it unseeded).
"""

from __future__ import annotations

from dataclasses import dataclass

from psmarl.methods.intensity import PerSharing
from psmarl.methods.replay import (
    FragmentsOf20,
    PrioritizedReplay,
    UniformReplay,
    multi_agent_replay_buffer,
)
from psmarl.methods.sac import OFF_POLICY_LIMITS
from psmarl.methods.spec import MethodSpec, PaperMeasure, copied, settings_defaults


def _config(name: str):
    def base():
        from psmarl.methods import ddpg_rllib

        return {
            "ddpg": ddpg_rllib.DDPGConfig,
            "td3": ddpg_rllib.TD3Config,
            "apex_ddpg": ddpg_rllib.ApexDDPGConfig,
        }[name]()

    base.__name__ = f"{name}_config"
    return base


@dataclass(frozen=True)
class DDPGModel:
    """RLlib's model settings of the DDPG family: the actor's network."""

    fcnet_hiddens: list[int] = copied([400, 300])
    """the actor's hidden layers (Table 4's [400, 300], old RLlib's actor_hiddens default)"""
    fcnet_activation: str = "relu"
    """their activation (ReLU, old RLlib's actor_hidden_activation)"""


@dataclass(frozen=True)
class DDPGCommonTraining:
    """Training settings of DDPG, TD3 and ApeX-DDPG: the paper's Table 2 where it lists a
    value, old RLlib's (0.8/0.9) default of the algorithm elsewhere."""

    gamma: float = 0.99
    """discount (Table 4)"""
    train_batch_size_per_learner: int = 512
    """transitions per update (Table 2 train_batch_size)"""
    critic_hiddens: list[int] = copied([256, 256])
    """the critic's hidden layers (Table 2 critics_hidden)"""
    actor_lr: float = 1e-3
    """actor learning rate (old RLlib's default)"""
    critic_lr: float = 1e-3
    """critic learning rate (old RLlib's default)"""
    exploration_noise: float = 0.1
    """stddev of the Gaussian action noise (TD3's; DDPG and ApeX-DDPG used
    Ornstein-Uhlenbeck noise in old RLlib)"""
    training_intensity: float | PerSharing = 0.4
    """trained samples per sampled env step: one update of 512 per round of 8 workers x 8
    envs x 20 steps (the logs: 0.3994-0.3997)"""


@dataclass(frozen=True)
class DDPGTraining(DDPGCommonTraining):
    """DDPG's training settings."""

    tau: float = 0.002
    """soft target-network update rate (old DDPG's default)"""
    n_step: int = 1
    """one-step TD targets"""
    num_steps_sampled_before_learning_starts: int = 5000
    """env steps sampled before the first update (Table 2 learning_starts)"""
    replay_buffer_config: PrioritizedReplay = copied(PrioritizedReplay())
    """prioritized replay (old DDPG's default), 1e5 transitions (Table 2 buffer_size)"""
    pure_exploration_steps: int = 1000
    """random-action env steps at the start (old exploration_config.random_timesteps)"""
    target_network_update_freq: int = 0
    """soft target update every training step"""
    min_sample_timesteps_per_iteration: int = 1000
    """env steps per iteration at least (old timesteps_per_iteration)"""


@dataclass(frozen=True)
class TD3Training(DDPGCommonTraining):
    """TD3's training settings."""

    tau: float = 0.005
    """soft target-network update rate (old TD3's default)"""
    n_step: int = 1
    """one-step TD targets"""
    twin_q: bool = True
    """two critics, the smaller target (TD3)"""
    policy_delay: int = 2
    """critic updates per actor update (TD3)"""
    smooth_target_policy: bool = True
    """noise on the target action (TD3)"""
    target_noise: float = 0.2
    """stddev of that noise (TD3)"""
    target_noise_clip: float = 0.5
    """its clip (TD3)"""
    num_steps_sampled_before_learning_starts: int = 5000
    """env steps sampled before the first update (Table 2 learning_starts)"""
    replay_buffer_config: UniformReplay = copied(UniformReplay())
    """uniform replay (old TD3's default), 1e5 transitions (Table 2 buffer_size)"""
    pure_exploration_steps: int = 5000
    """random-action env steps at the start (Table 2)"""
    target_network_update_freq: int = 0
    """soft target update every training step"""
    min_sample_timesteps_per_iteration: int = 1000
    """env steps per iteration at least (old timesteps_per_iteration)"""


@dataclass(frozen=True)
class ApexDDPGTraining(DDPGCommonTraining):
    """ApeX-DDPG's training settings."""

    critic_hiddens: list[int] = copied([400, 300])
    """the critic's hidden layers: the table lists none, so old RLlib's default [400, 300]"""
    training_intensity: float | PerSharing = copied(PerSharing(10.6, 3.09))
    """trained samples per sampled env step of the paper's Ape-X learner (waterworld's logs,
    the paper's ApeX-DDPG headline; multiwalker's in config/paper.yaml)"""
    tau: float = 0.002
    """soft target-network update rate, applied at each target update (old RLlib)"""
    n_step: int = 3
    """n-step TD targets (Table 2)"""
    per_runner_exploration: bool = True
    """Ape-X's per-runner noise scale (psmarl.methods.apex.apex_epsilon)"""
    num_steps_sampled_before_learning_starts: int = 1000
    """env steps sampled before the first update (Table 2 learning_starts)"""
    replay_buffer_config: PrioritizedReplay = copied(PrioritizedReplay(alpha=0.5, beta=1.0))
    """prioritized replay, 1e5 transitions, alpha 0.5 (Table 2); beta fixed at the final
    value 1.0 (old RLlib annealed 0.4 -> 1.0)"""
    pure_exploration_steps: int = 1000
    """random-action env steps at the start (old exploration_config.random_timesteps)"""
    target_network_update_freq: int = 50000
    """trained samples between target updates (Table 2)"""
    target_network_update_unit: str = "trained"
    """target_network_update_freq counts trained samples, as old Ape-X did"""
    min_sample_timesteps_per_iteration: int = 25000
    """env steps per iteration at least (Table 2 timesteps_per_iteration)"""


@dataclass(frozen=True)
class DDPGSettings:
    """DDPG's psmarl defaults: RLlib config groups and psmarl's own keys."""

    training: DDPGTraining = copied(DDPGTraining())
    """training() settings of psmarl's DDPG config"""
    model: DDPGModel = copied(DDPGModel())
    """RLlib's model settings"""
    env_runners: FragmentsOf20 = copied(FragmentsOf20())
    """RLlib's env_runners() settings"""
    clip_rewards: bool | float = False
    """no reward clipping (old RLlib did not clip for these)"""


@dataclass(frozen=True)
class TD3Settings:
    """TD3's psmarl defaults: RLlib config groups and psmarl's own keys."""

    training: TD3Training = copied(TD3Training())
    """training() settings of psmarl's TD3 config"""
    model: DDPGModel = copied(DDPGModel())
    """RLlib's model settings"""
    env_runners: FragmentsOf20 = copied(FragmentsOf20())
    """RLlib's env_runners() settings"""
    clip_rewards: bool | float = False
    """no reward clipping (old RLlib did not clip for these)"""


@dataclass(frozen=True)
class ApexDDPGSettings:
    """ApeX-DDPG's psmarl defaults: RLlib config groups and psmarl's own keys."""

    training: ApexDDPGTraining = copied(ApexDDPGTraining())
    """training() settings of psmarl's ApeX-DDPG config"""
    model: DDPGModel = copied(DDPGModel())
    """RLlib's model settings"""
    env_runners: FragmentsOf20 = copied(FragmentsOf20())
    """RLlib's env_runners() settings"""
    clip_rewards: bool | float = False
    """no reward clipping (old RLlib did not clip for these)"""
    paper_measure: PaperMeasure = copied(PaperMeasure(runners="last_third"))
    """how the paper's Ape-X reported episodes: the last third of the runners"""


LIMITS = {
    **OFF_POLICY_LIMITS,
    "training.policy_delay": (1, None),
    "training.target_noise": (0, None),
    "training.target_noise_clip": (0, None),
    "training.exploration_noise": (0, None),
    "training.pure_exploration_steps": (0, None),
}

_DESCRIPTIONS = {
    "ddpg": "Deep Deterministic Policy Gradient (Lillicrap et al., 2015)",
    "td3": "Twin Delayed DDPG (Fujimoto et al., 2018)",
    "apex_ddpg": "Ape-X DDPG (Horgan et al., 2018): DDPG + distributed per-runner "
    "exploration + prioritized n-step replay",
}

DDPG, TD3, APEX_DDPG = (
    MethodSpec(
        name=name,
        family="off_policy_continuous",
        action_kinds=frozenset({"continuous"}),
        base_config=_config(name),
        defaults=settings_defaults(settings),
        settings=settings,
        customize=multi_agent_replay_buffer,
        description=_DESCRIPTIONS[name],
        limits=LIMITS,
        # the network axis shapes the critics too (their own default: critic_hiddens)
        network_paths={
            "hidden": ("model.fcnet_hiddens", "training.critic_hiddens"),
            "activation": ("model.fcnet_activation",),
        },
    )
    for name, settings in (
        ("ddpg", DDPGSettings),
        ("td3", TD3Settings),
        ("apex_ddpg", ApexDDPGSettings),
    )
)
