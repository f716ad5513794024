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
from typing import Any

from psmarl.errors import ConfigError
from psmarl.methods import replay
from psmarl.methods.spec import MethodSpec

PAPER_MODEL = {
    "fcnet_hiddens": [400, 300],
    "fcnet_activation": "relu",  # Table 4, the scripts' MLPModel
    "head_fcnet_hiddens": [256],
    "head_fcnet_activation": "relu",  # RLlib 0.9 DQN `hiddens`
}
# the scripts' MLPModelV2 (Rainbow, Ape-X): one 256-unit linear layer, then old DQN's head
ONE_LINEAR_LAYER_MODEL = {**PAPER_MODEL, "fcnet_hiddens": [256], "fcnet_activation": "linear"}
PAPER_EPSILON = [[0, 1.0], [10000, 0.02]]  # RLlib 0.9 EpsilonGreedy defaults


def _buffer(capacity: int) -> dict[str, Any]:
    return {
        "type": "PrioritizedEpisodeReplayBuffer",
        "capacity": capacity,
        "alpha": 0.6,
        "beta": 0.4,
    }


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


COMMON_TRAINING = {
    "gamma": 0.99,
    "lr": 5e-4,
    "adam_epsilon": 1e-8,
    "grad_clip": 40.0,
    "double_q": True,
    "dueling": True,
    "train_batch_size_per_learner": 512,
    "num_steps_sampled_before_learning_starts": 1000,
    "target_network_update_freq": 500,
    "min_sample_timesteps_per_iteration": 1000,
    "epsilon": PAPER_EPSILON,
}

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


def _defaults(
    training: Mapping[str, Any],
    env_runners: Mapping[str, Any],
    model: Mapping[str, Any] = PAPER_MODEL,
    **psmarl: Any,
) -> dict[str, Any]:
    return {
        "training": {**COMMON_TRAINING, **training},
        "env_runners": {"rollout_fragment_length": 20, **env_runners},
        "model": dict(model),
        "clip_rewards": False,
        **psmarl,
    }


DQN = MethodSpec(
    name="dqn",
    family="dqn",
    action_kinds=frozenset({"discrete"}),
    base_config=_base_dqn,
    defaults=_defaults(
        {
            "n_step": 1,
            "dueling": False,
            "double_q": False,
            "training_intensity": 0.4,
            "replay_buffer_config": _buffer(100000),
        },
        {"batch_mode": "truncate_episodes"},
    ),
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
    defaults=_defaults(
        {
            "n_step": 2,
            "num_atoms": 51,
            "v_min": 0.0,
            "v_max": 1500.0,
            "noisy": True,
            "sigma0": 0.5,
            "epsilon": 0.0,
            "training_intensity": 0.128,
            "replay_buffer_config": _buffer(100000),
        },
        {"batch_mode": "complete_episodes"},
        ONE_LINEAR_LAYER_MODEL,
    ),
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
    defaults=_defaults(
        {
            "n_step": 3,
            "replay_buffer_config": _buffer(100000),
            "target_network_update_freq": 500000,
            "target_network_update_unit": "trained",
            "training_intensity": {"shared": 10.89, "independent": 2.96},
            "min_sample_timesteps_per_iteration": 25000,
        },
        {},
        ONE_LINEAR_LAYER_MODEL,
        paper_measure={"window": 100, "runners": "last_third"},
    ),
    customize=_customizer("apex_dqn"),
    description="Ape-X DQN: per-runner epsilons, prioritized replay, n-step 3, dueling, "
    "double Q (Horgan et al., 2018)",
    limits=LIMITS,
)
