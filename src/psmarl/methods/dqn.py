"""The DQN family: DQN, Rainbow DQN and ApeX-DQN, on RLlib 2.60's DQN (new API stack).

All three are RLlib's DQN module and learner on psmarl's algorithm class
(:class:`psmarl.methods.dqn_rllib.PsmarlDQN`: the training intensity held exactly, a seeded
replay buffer, target updates counted as configured); psmarl adds what 2.60 lacks. Defaults
are what the paper's runs used: its run scripts (``parameterSharingPursuit.py``,
``independentPursuit.py``) and their ``params.json`` in the paper's repository, since the
printed Table 3 is shifted against its row labels (docs/fidelity.md):

- **dqn** (plain DQN; script branch ``method == "DQN"``): ``dueling: False, double_q:
  False``, buffer 1e5, truncated 20-step fragments, epsilon-greedy (old default schedule),
  prioritized replay (old RLlib's DQN default). The printed table's ``parameter_noise`` and
  ``complete_episodes`` belong to Rainbow.
- **rainbow** (script branch ``"RDQN"``): double, dueling, n-step 2, distributional (51 atoms
  on [0, 1500]), prioritized replay, complete episodes. The paper explored with old RLlib's
  parameter-space noise (``parameter_noise: True``), which the new stack does not have:
  psmarl explores with noisy nets instead (RLlib 2.60 ignores ``noisy=True``; here it
  selects a module whose Q heads use :class:`psmarl.methods.noisy.NoisyLinear`, factorised
  Gaussian noise, ``sigma0``, resampled each training/exploration forward pass, mean
  weights for inference, no epsilon-greedy). The same module fixes RLlib 2.60's
  distributional dueling head (its value stream and advantage centring cancel in the
  softmax): value per atom, advantages centred over the actions.
- **apex_dqn** (script branch ``"ADQN"``, old RLlib's APEX): several env runners, each
  acting with its own fixed epsilon ``0.4 ** (1 + 7 i / (N - 1))``
  (:func:`psmarl.methods.apex.apex_epsilon`; actor i = remote runner i+1 of N =
  ``num_env_runners``, the paper's Table 4 gives 8), prioritized replay, n-step 3, dueling
  and double Q, target network every 500000 *trained* samples
  (``target_network_update_unit: trained``, as old Ape-X counted), and episode metrics
  from the last third of the runners only (``paper_measure.runners: last_third``).

Network: plain DQN used the paper's [400, 300] ReLU MLP (the scripts' ``MLPModel``, whose
256-unit linear output feeds old DQN's [256] ReLU Q head: psmarl's ``fcnet_hiddens [400,
300]`` + ``head_fcnet_hiddens [256]``, the same function class). Rainbow and Ape-X used the
scripts' ``MLPModelV2``, a single 256-unit *linear* layer before that Q head, not
[400, 300]: ``fcnet_hiddens [256]``, ``fcnet_activation linear``.

Updates per env step (``training_intensity``, :mod:`psmarl.methods.intensity`): old RLlib's
synchronous DQN did one update of 512 per sampling round of 8 workers: 8 x 8 envs x 20
steps = 1280 env steps (plain DQN: 0.4) or, with complete episodes, one 500-step episode
per worker (old RLlib's sampler returns one finished episode per ``sample()``; the
paper's plot multiplies Rainbow's iterations by 8 episodes): 512 / 4000 = 0.128. Ape-X's
asynchronous learner trained 10.89 (shared) and 2.96 (independent) samples per sampled env
step on pursuit (its logs, ``docs/data/paper_logs.csv``).

Paper (RLlib 0.9) name -> RLlib 2.60 new-stack name:
sample_batch_size -> env_runners.rollout_fragment_length; train_batch_size ->
training.train_batch_size_per_learner (one learner); learning_starts ->
training.num_steps_sampled_before_learning_starts; buffer_size ->
training.replay_buffer_config.capacity; prioritized_replay_alpha/beta ->
replay_buffer_config.alpha/beta (prioritized_replay=True -> type PrioritizedEpisodeReplayBuffer;
for multi-agent runs psmarl picks the multi-agent buffer itself, see below); hiddens ->
model.head_fcnet_hiddens;
timesteps_per_iteration -> training.min_sample_timesteps_per_iteration; exploration_config
EpsilonGreedy(1.0 -> 0.02 over 10000 steps) -> training.epsilon [[0, 1.0], [10000, 0.02]];
batch_mode -> env_runners.batch_mode; double_q, dueling, n_step, num_atoms, v_min, v_max,
noisy, sigma0, target_network_update_freq, lr, adam_epsilon, grad_clip, gamma,
training_intensity: same names.

Values not in the paper's scripts are RLlib 0.9's defaults (DQN: lr 5e-4, grad_clip 40,
target_network_update_freq 500, hiddens [256]; APEX: n_step 3, target_network_update_freq
500000, timesteps_per_iteration 25000). clip_rewards: RLlib 0.9 clipped rewards only for
Atari envs, so it is off.

Cannot be matched exactly:
- Rainbow's parameter-space noise (above).
- Ape-X ran asynchronously (replay shards, a learner thread, worker-side initial
  priorities); here sampling, replay and learning alternate synchronously, at the paper's
  trained samples per env step, and new samples enter the prioritized buffer with the
  current maximum priority.
- Replay capacity: RLlib 0.9 kept one buffer per policy with ``buffer_size`` transitions of
  that policy; RLlib 2.60 counts env steps over all modules and evicts whole episodes.
  psmarl sets the env-step capacity to ``capacity / (agents per module)`` so each module
  holds about ``capacity`` transitions, as before (shared pursuit: 100000 / 8 env steps).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psmarl.errors import ConfigError
from psmarl.methods import replay
from psmarl.methods.intensity import PerSharing
from psmarl.methods.replay import FragmentsOf20, PrioritizedReplay
from psmarl.methods.spec import MethodSpec, PaperMeasure, copied, settings_defaults


def _base_dqn():
    from psmarl.methods.dqn_rllib import PsmarlDQNConfig

    return PsmarlDQNConfig()


def _base_apex():
    from psmarl.methods.dqn_rllib import ApexDQNConfig

    return ApexDQNConfig()


def _max_epsilon(eps) -> float:
    if isinstance(eps, (int, float)):
        return float(eps)
    return max(float(v) for _, v in eps)


def customize(
    config,
    settings: Mapping[str, Any] | None = None,
    env_settings: Mapping[str, Any] | None = None,
    *,
    name: str = "dqn",
):
    """Checks the family's settings and makes them fit the run (multi-agent buffer type).

    Also usable on a hand-built config (single-agent tests): ``customize(config, {})``.
    """
    buf = dict(config.replay_buffer_config)
    where = f"methods.{name}.training.replay_buffer_config"
    cap = buf.get("capacity")
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise ConfigError(
            f"method {name!r}: capacity must be a positive integer, got {cap!r}",
            key=f"{where}.capacity",
        )
    for k, (lo, hi) in {"alpha": (0.0, None), "beta": (0.0, 1.0)}.items():
        v = buf.get(k)
        if v is not None and ((lo is not None and v < lo) or (hi is not None and v > hi)):
            raise ConfigError(
                f"method {name!r}: {k} {v!r} is outside [{lo}, {hi if hi is not None else 'inf'}]",
                key=f"{where}.{k}",
            )
    if config.num_atoms > 1 and not config.v_min < config.v_max:
        raise ConfigError(
            f"method {name!r}: v_min ({config.v_min}) must be below v_max ({config.v_max})",
            key=f"methods.{name}.training.v_min",
        )
    if config.noisy and _max_epsilon(config.epsilon) > 0:
        raise ConfigError(
            f"method {name!r}: noisy nets explore by their noise, set epsilon "
            f"to 0 (got {config.epsilon!r})",
            key=f"methods.{name}.training.epsilon",
        )
    if config.is_multi_agent:
        config = replay.multi_agent_replay_buffer(config)
    return config


def _customizer(name: str):
    def hook(config, settings, env_settings):
        return customize(config, settings, env_settings, name=name)

    return hook


LIMITS = {
    "training.lr": (0, None),
    "training.gamma": (0, 1),
    "training.n_step": (1, None),
    "training.num_atoms": (1, None),
    "training.sigma0": (0, None),
    "training.tau": (0, 1),
    "training.train_batch_size_per_learner": (1, None),
    "training.target_network_update_freq": (0, None),
    "training.num_steps_sampled_before_learning_starts": (0, None),
    "training.min_sample_timesteps_per_iteration": (0, None),
    "training.grad_clip": (0, None),
    "training.adam_epsilon": (0, None),
    "env_runners.rollout_fragment_length": (1, None),
    "env_runners.num_env_runners": (0, None),
}


# ---------------------------------------------------------------- the settings
@dataclass(frozen=True)
class DQNModel:
    """RLlib's model settings of plain DQN: the paper's network (the scripts' MLPModel)."""

    fcnet_hiddens: list[int] = copied([400, 300])
    """hidden layers before the Q head (Table 4, the scripts' MLPModel)"""
    fcnet_activation: str = "relu"
    """their activation (Table 4, the scripts' MLPModel)"""
    head_fcnet_hiddens: list[int] = copied([256])
    """the Q head's hidden layers (RLlib 0.9 DQN's ``hiddens``)"""
    head_fcnet_activation: str = "relu"
    """their activation (RLlib 0.9 DQN's ``hiddens``)"""


@dataclass(frozen=True)
class OneLinearLayerModel(DQNModel):
    """The scripts' MLPModelV2 (Rainbow, Ape-X): one 256-unit linear layer, then old DQN's
    head."""

    fcnet_hiddens: list[int] = copied([256])
    """one 256-unit layer before the Q head (the scripts' MLPModelV2)"""
    fcnet_activation: str = "linear"
    """no activation: MLPModelV2's layer is linear"""


@dataclass(frozen=True)
class DQNCommonTraining:
    """Training settings the family shares: the paper's scripts where they set a value,
    RLlib 0.9's DQN defaults elsewhere (module docstring)."""

    gamma: float = 0.99
    """discount (Table 4)"""
    lr: float = 5e-4
    """learning rate (RLlib 0.9 DQN's default)"""
    adam_epsilon: float = 1e-8
    """Adam's epsilon (RLlib 0.9 DQN's default)"""
    grad_clip: float = 40.0
    """gradient-norm clip (RLlib 0.9 DQN's default)"""
    double_q: bool = True
    """double Q-learning targets"""
    dueling: bool = True
    """dueling value/advantage heads"""
    train_batch_size_per_learner: int = 512
    """transitions per update (the scripts' train_batch_size)"""
    num_steps_sampled_before_learning_starts: int = 1000
    """env steps sampled before the first update (the scripts' learning_starts)"""
    target_network_update_freq: int = 500
    """steps between target-network updates (RLlib 0.9 DQN's default)"""
    min_sample_timesteps_per_iteration: int = 1000
    """env steps per iteration at least (the scripts' timesteps_per_iteration)"""
    epsilon: float | list[list[float]] = copied([[0, 1.0], [10000, 0.02]])
    """epsilon-greedy schedule [[env step, epsilon], ...] (RLlib 0.9's EpsilonGreedy
    defaults: 1.0 -> 0.02 over 10000 steps)"""


@dataclass(frozen=True)
class DQNTraining(DQNCommonTraining):
    """Plain DQN's training settings (the scripts' ``method == "DQN"`` branch)."""

    double_q: bool = False
    """no double Q (the scripts' DQN branch)"""
    dueling: bool = False
    """no dueling heads (the scripts' DQN branch)"""
    n_step: int = 1
    """one-step TD targets"""
    training_intensity: float | PerSharing = 0.4
    """trained samples per sampled env step: one update of 512 per round of 8 x 8 envs x 20
    steps (psmarl.methods.intensity)"""
    replay_buffer_config: PrioritizedReplay = copied(PrioritizedReplay())
    """prioritized replay, 1e5 transitions (old RLlib DQN's default, the scripts' buffer)"""


@dataclass(frozen=True)
class RainbowTraining(DQNCommonTraining):
    """Rainbow's training settings (the scripts' ``"RDQN"`` branch)."""

    n_step: int = 2
    """n-step TD targets (the scripts)"""
    num_atoms: int = 51
    """atoms of the distributional value (the scripts)"""
    v_min: float = 0.0
    """lowest atom (the scripts)"""
    v_max: float = 1500.0
    """highest atom (the scripts)"""
    noisy: bool = True
    """noisy nets (psmarl.methods.noisy) in place of old RLlib's parameter-space noise,
    which the new stack lacks"""
    sigma0: float = 0.5
    """initial noise scale of the noisy layers"""
    epsilon: float | list[list[float]] = 0.0
    """no epsilon-greedy: noisy nets explore by their noise"""
    training_intensity: float | PerSharing = 0.128
    """trained samples per sampled env step: one update of 512 per round of one 500-step
    episode per worker x 8 workers"""
    replay_buffer_config: PrioritizedReplay = copied(PrioritizedReplay())
    """prioritized replay, 1e5 transitions (the scripts)"""


@dataclass(frozen=True)
class ApexDQNTraining(DQNCommonTraining):
    """Ape-X DQN's training settings (the scripts' ``"ADQN"`` branch, old RLlib's APEX)."""

    target_network_update_freq: int = 500000
    """trained samples between target-network updates (RLlib 0.9 APEX's default)"""
    min_sample_timesteps_per_iteration: int = 25000
    """env steps per iteration at least (RLlib 0.9 APEX's timesteps_per_iteration)"""
    n_step: int = 3
    """n-step TD targets (RLlib 0.9 APEX's default)"""
    replay_buffer_config: PrioritizedReplay = copied(PrioritizedReplay())
    """prioritized replay, 1e5 transitions (the scripts)"""
    target_network_update_unit: str = "trained"
    """target_network_update_freq counts trained samples, as old Ape-X did"""
    training_intensity: float | PerSharing = copied(PerSharing(10.89, 2.96))
    """trained samples per sampled env step of the paper's Ape-X learner (its pursuit logs,
    docs/data/paper_logs.csv)"""


@dataclass(frozen=True)
class TruncatedFragments:
    """RLlib's env_runners settings of plain DQN."""

    rollout_fragment_length: int | str = 20
    """env steps per env per sample (the scripts' sample_batch_size)"""
    batch_mode: str = "truncate_episodes"
    """fixed-length fragments (the scripts' DQN branch)"""


@dataclass(frozen=True)
class CompleteEpisodes(TruncatedFragments):
    """RLlib's env_runners settings of Rainbow."""

    batch_mode: str = "complete_episodes"
    """whole episodes (the scripts' Rainbow branch)"""


@dataclass(frozen=True)
class DQNSettings:
    """Plain DQN's psmarl defaults: RLlib config groups and psmarl's own keys."""

    training: DQNTraining = copied(DQNTraining())
    """training() settings of psmarl's DQN config"""
    env_runners: TruncatedFragments = copied(TruncatedFragments())
    """RLlib's env_runners() settings"""
    model: DQNModel = copied(DQNModel())
    """RLlib's model settings"""
    clip_rewards: bool | float = False
    """no reward clipping (RLlib 0.9 clipped only Atari envs)"""


@dataclass(frozen=True)
class RainbowSettings:
    """Rainbow's psmarl defaults: RLlib config groups and psmarl's own keys."""

    training: RainbowTraining = copied(RainbowTraining())
    """training() settings of psmarl's DQN config"""
    env_runners: CompleteEpisodes = copied(CompleteEpisodes())
    """RLlib's env_runners() settings"""
    model: OneLinearLayerModel = copied(OneLinearLayerModel())
    """RLlib's model settings"""
    clip_rewards: bool | float = False
    """no reward clipping (RLlib 0.9 clipped only Atari envs)"""


@dataclass(frozen=True)
class ApexDQNSettings:
    """Ape-X DQN's psmarl defaults: RLlib config groups and psmarl's own keys."""

    training: ApexDQNTraining = copied(ApexDQNTraining())
    """training() settings of psmarl's Ape-X DQN config"""
    env_runners: FragmentsOf20 = copied(FragmentsOf20())
    """RLlib's env_runners() settings"""
    model: OneLinearLayerModel = copied(OneLinearLayerModel())
    """RLlib's model settings"""
    clip_rewards: bool | float = False
    """no reward clipping (RLlib 0.9 clipped only Atari envs)"""
    paper_measure: PaperMeasure = copied(PaperMeasure(runners="last_third"))
    """how the paper's Ape-X reported episodes: the last third of the runners"""


DQN = MethodSpec(
    name="dqn",
    family="dqn",
    action_kinds=frozenset({"discrete"}),
    base_config=_base_dqn,
    defaults=settings_defaults(DQNSettings),
    settings=DQNSettings,
    customize=_customizer("dqn"),
    description="Deep Q-Network (Mnih et al., 2015), as the paper's script ran it: no "
    "dueling, no double Q, prioritized replay",
    limits=LIMITS,
)

RAINBOW = MethodSpec(
    name="rainbow",
    family="dqn",
    action_kinds=frozenset({"discrete"}),
    base_config=_base_dqn,
    defaults=settings_defaults(RainbowSettings),
    settings=RainbowSettings,
    customize=_customizer("rainbow"),
    description="Rainbow DQN: double, dueling, n-step, distributional, prioritized replay, "
    "noisy nets (Hessel et al., 2018)",
    limits=LIMITS,
)

APEX_DQN = MethodSpec(
    name="apex_dqn",
    family="dqn",
    action_kinds=frozenset({"discrete"}),
    base_config=_base_apex,
    defaults=settings_defaults(ApexDQNSettings),
    settings=ApexDQNSettings,
    customize=_customizer("apex_dqn"),
    description="Ape-X DQN: per-runner epsilons, prioritized replay, n-step 3, dueling, "
    "double Q (Horgan et al., 2018)",
    limits=LIMITS,
)
