"""The training iteration of psmarl's replay-based methods (DQN family, SAC, DDPG family).

RLlib 2.60's DQN/SAC ``training_step`` samples one round from every env runner and then
does one update per round (or a rounded multiple with ``training_intensity``). Here:

- :class:`HeldIntensity` (Algorithm mixin) samples one round, stores it, and does the
  number of updates that holds ``training_intensity`` trained samples per sampled env
  step exactly (:func:`psmarl.methods.intensity.updates_due`); ``null`` is one update per
  round, RLlib's default. The run's env steps sampled and samples trained since learning
  started are part of the algorithm's checkpointed state, and every iteration reports its
  trained samples (``psmarl_samples_trained``, a column of psmarl's progress.csv).
- :class:`ReplayLoopSettings` (config mixin) adds ``target_network_update_unit``:
  ``trained`` counts ``target_network_update_freq`` in trained samples (old RLlib's Ape-X),
  ``sampled`` in env steps sampled (RLlib 2.60). :func:`target_clock` is what the learners
  compare with it.
- The mixins every replay-based method's classes share: :class:`IterationSizeInTraining`
  and :class:`AcceptsAgentScaledBuffer` (config), :class:`SeededReplayBuffer` (algorithm).

Imports RLlib (loaded lazily by the method modules).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core.learner.utils import update_target_network
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.utils.metrics import (
    ALL_MODULES,
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LAST_TARGET_UPDATE_TS,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_TARGET_UPDATES,
    REPLAY_BUFFER_ADD_DATA_TIMER,
    REPLAY_BUFFER_RESULTS,
    REPLAY_BUFFER_SAMPLE_TIMER,
    REPLAY_BUFFER_UPDATE_PRIOS_TIMER,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TD_ERROR_KEY,
    TIMERS,
)
from ray.rllib.utils.numpy import convert_to_numpy
from ray.rllib.utils.replay_buffers.utils import update_priorities_in_episode_replay_buffer

from psmarl.methods import intensity as ti
from psmarl.methods.replay import agents_per_module
from psmarl.methods.spec import SAMPLES_TRAINED_KEY  # per-iteration trained samples in the results

#: the trained-samples clock handed to the learners with every update
SAMPLES_TRAINED_LIFETIME = "psmarl_samples_trained_lifetime"
_STATE_KEY = "psmarl_replay_loop"


def target_clock(config, timesteps: dict[str, Any]) -> float:
    """What ``target_network_update_freq`` is counted in for this config."""
    if getattr(config, "target_network_update_unit", "sampled") == "trained":
        return float(timesteps.get(SAMPLES_TRAINED_LIFETIME, 0) or 0)
    return float(timesteps.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0) or 0)


def update_targets(learner, module_id: str, module, clock: float) -> None:
    """Move ``module``'s target networks towards its online ones (``tau``; 1 = copy) and
    record the update at ``clock`` (:func:`target_clock`) in the learner's metrics."""
    config = learner.config.get_config_for_module(module_id)
    for main_net, target_net in module.unwrapped().get_target_network_pairs():
        update_target_network(main_net=main_net, target_net=target_net, tau=config.tau)
    learner.metrics.log_value((module_id, NUM_TARGET_UPDATES), 1, reduce="lifetime_sum")
    learner.last_update_ts_by_mid[module_id] = clock
    learner.metrics.log_value((module_id, LAST_TARGET_UPDATE_TS), clock, reduce="max")


class ReplayLoopSettings:
    """Config mixin: ``training(target_network_update_unit=...)`` and the checks of it and
    of ``training_intensity`` (a number, null, or a mapping by sharing mode)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.target_network_update_unit = "sampled"

    def training(self, *, target_network_update_unit=NotProvided, **kwargs):
        super().training(**kwargs)
        if target_network_update_unit is not NotProvided:
            self.target_network_update_unit = target_network_update_unit
        return self

    def validate(self) -> None:
        super().validate()
        if self.target_network_update_unit not in ti.TARGET_UNITS:
            raise ValueError(
                f"target_network_update_unit must be one of {ti.TARGET_UNITS}, "
                f"got {self.target_network_update_unit!r}"
            )
        ti.check(self.training_intensity, "training_intensity")

    def held_training_intensity(self) -> float | None:
        """This run's trained samples per sampled env step (None: one update per round)."""
        return ti.for_sharing(self.training_intensity, agents_per_module(self) > 1)


class HeldIntensity:
    """Algorithm mixin: RLlib's DQN/SAC iteration with ``training_intensity`` held exactly."""

    def setup(self, config):
        super().setup(config)
        self._psmarl_sampled = 0  # env steps sampled in this run
        self._psmarl_trained = 0  # samples trained (updates x train batch)

    def training_step(self) -> None:
        cfg = self.config
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            episodes, runner_metrics = synchronous_parallel_sample(
                worker_set=self.env_runner_group,
                concat=True,
                sample_timeout_s=cfg.sample_timeout_s,
                _uses_new_env_runners=True,
                _return_metrics=True,
            )
        self.metrics.aggregate(runner_metrics, key=ENV_RUNNER_RESULTS)
        with self.metrics.log_time((TIMERS, REPLAY_BUFFER_ADD_DATA_TIMER)):
            self.local_replay_buffer.add(episodes)
        self._psmarl_sampled += int(sum(e.env_steps() for e in episodes))

        since_start = self._psmarl_sampled - int(cfg.num_steps_sampled_before_learning_starts)
        batch = int(cfg.total_train_batch_size)
        intensity = cfg.held_training_intensity()
        if since_start < 0:
            n = 0
        elif intensity is None:
            n = 1
        else:
            n = ti.updates_due(intensity, since_start, self._psmarl_trained, batch)
        modules: set[str] = set()
        for _ in range(n):
            modules |= self._psmarl_update(batch)
        self.metrics.log_value(SAMPLES_TRAINED_KEY, n * batch, reduce="sum")
        if modules:
            with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
                self.env_runner_group.sync_weights(
                    from_worker_or_learner_group=self.learner_group,
                    policies=modules,
                    global_vars=None,
                    inference_only=True,
                )

    def _psmarl_update(self, batch: int) -> set[str]:
        """One update on ``batch`` replayed samples (per module); its priorities; the
        modules it trained."""
        cfg = self.config
        stateful = bool(getattr(self, "_module_is_stateful", False))
        with self.metrics.log_time((TIMERS, REPLAY_BUFFER_SAMPLE_TIMER)):
            replayed = self.local_replay_buffer.sample(
                num_items=batch,
                n_step=cfg.n_step,
                batch_length_T=stateful * cfg.model_config.get("max_seq_len", 0),
                lookback=int(stateful),
                min_batch_length_T=getattr(cfg, "burn_in_len", 0),
                gamma=cfg.gamma,
                beta=cfg.replay_buffer_config.get("beta"),
                sample_episodes=True,
            )
            self.metrics.aggregate(
                [self.local_replay_buffer.get_metrics()], key=REPLAY_BUFFER_RESULTS
            )
        self._psmarl_trained += batch
        clock = {
            NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
                (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0
            ),
            NUM_AGENT_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
                (ENV_RUNNER_RESULTS, NUM_AGENT_STEPS_SAMPLED_LIFETIME), default={}
            ),
            SAMPLES_TRAINED_LIFETIME: self._psmarl_trained,
        }
        with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
            results = self.learner_group.update(episodes=replayed, timesteps=clock)
        td_errors: dict[str, list] = defaultdict(list)
        for res in results:  # TD errors feed the priorities, they are not logged
            for module_id, module_results in res.items():
                if TD_ERROR_KEY in module_results:
                    td_errors[module_id].extend(
                        convert_to_numpy(module_results.pop(TD_ERROR_KEY).peek())
                    )
        self.metrics.aggregate(results, key=LEARNER_RESULTS)
        with self.metrics.log_time((TIMERS, REPLAY_BUFFER_UPDATE_PRIOS_TIMER)):
            update_priorities_in_episode_replay_buffer(
                replay_buffer=self.local_replay_buffer,
                td_errors={
                    m: {TD_ERROR_KEY: np.concatenate(v, axis=0)} for m, v in td_errors.items()
                },
            )
        return set(results[0].keys()) - {ALL_MODULES} if results else set()

    def get_state(self, *args, **kwargs):
        state = super().get_state(*args, **kwargs)
        state[_STATE_KEY] = {"sampled": self._psmarl_sampled, "trained": self._psmarl_trained}
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        saved = state.get(_STATE_KEY)
        if saved:
            self._psmarl_sampled = int(saved["sampled"])
            self._psmarl_trained = int(saved["trained"])


# ------------------------------------------------------------------ shared mixins
class IterationSizeInTraining:
    """Config mixin: ``.training(min_sample_timesteps_per_iteration=...,
    min_time_s_per_iteration=...)``, and no minimum time per iteration by default.

    The old ``timesteps_per_iteration`` / ``min_iter_time_s`` are ``reporting`` settings in
    RLlib 2.60; accepting them in ``training`` keeps all of a method's settings in psmarl's
    one group. RLlib's SAC/DQN default of 1 s minimum per iteration makes an iteration's
    number of updates depend on wall-clock speed (so a seeded run is not reproducible);
    psmarl sets it to 0: iterations are counted in sampled env steps only.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_time_s_per_iteration = 0

    def training(
        self,
        *,
        min_sample_timesteps_per_iteration=NotProvided,
        min_time_s_per_iteration=NotProvided,
        **kwargs,
    ):
        if min_sample_timesteps_per_iteration is not NotProvided:
            self.reporting(min_sample_timesteps_per_iteration=min_sample_timesteps_per_iteration)
        if min_time_s_per_iteration is not NotProvided:
            self.reporting(min_time_s_per_iteration=min_time_s_per_iteration)
        return super().training(**kwargs)


class AcceptsAgentScaledBuffer:
    """Config mixin: SAC's ``validate`` accepts only RLlib's four episode-buffer names; let it
    also accept psmarl's multi-agent buffers (subclasses of two of them,
    :mod:`psmarl.methods.replay`), which multi-agent runs need."""

    def validate(self) -> None:
        from psmarl.methods.replay import AGENT_SCALED_PRIORITIZED, BOUNDED_UNIFORM

        base = {
            AGENT_SCALED_PRIORITIZED: "MultiAgentPrioritizedEpisodeReplayBuffer",
            BOUNDED_UNIFORM: "MultiAgentEpisodeReplayBuffer",
        }
        buf = self.replay_buffer_config
        if buf.get("type") not in base:
            return super().validate()
        ours = buf["type"]
        buf["type"] = base[ours]  # what it is, for the check
        try:
            return super().validate()
        finally:
            buf["type"] = ours


class SeededReplayBuffer:
    """Algorithm mixin: seed the replay buffer's sampling RNG from ``debugging(seed=...)``.

    RLlib 2.60's episode replay buffers draw from ``np.random.default_rng(seed=None)``, so
    off-policy runs were not reproducible even with a seed.
    """

    def setup(self, config):
        super().setup(config)
        buffer = getattr(self, "local_replay_buffer", None)
        if buffer is not None and hasattr(buffer, "rng") and self.config.seed is not None:
            buffer.rng = np.random.default_rng(self.config.seed)
