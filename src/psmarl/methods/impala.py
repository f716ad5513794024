"""IMPALA (RLlib's own, V-trace), with the paper's hyperparameters (Table 1) as defaults.

Paper (old RLlib) name -> RLlib 2.60 name: ``sample_batch_size`` ->
``env_runners.rollout_fragment_length``; ``train_batch_size`` ->
``training.train_batch_size_per_learner``; ``lr_schedule [[0, a], [2e7, b]]`` ->
``training.lr: [[0, a], [2e7, b]]`` (RLlib 2.60 takes a schedule in ``lr``, indexed by
sampled env steps; ``lr_schedule`` itself is rejected on the new API stack);
``batch_mode: truncate_episodes`` is RLlib's default and stays; ``clip_rewards`` ->
psmarl's ``clip_rewards``. Old IMPALA defaults that RLlib 2.60 keeps: V-trace with both
rho thresholds 1.0, ``vf_loss_coeff`` 0.5, ``entropy_coeff`` 0.01, ``grad_clip`` 40, Adam.

Not matched exactly, documented: the paper's Table 1 prints IMPALA's learning-rate schedule
as starting at 5e-3, but the scripts that ran it (``parameterSharing*.py`` in
github.com/parametersharingmadrl/parametersharingmadrl) start at 5e-4 (0.0005, also old
RLlib's IMPALA default); psmarl uses 5e-4. Old RLlib summed the V-trace loss over the batch,
RLlib 2.60 averages it: psmarl sums (``loss_reduction: sum``,
:mod:`psmarl.methods.loss_reduction`), so that the gradient-norm clip of 40 clips on every
update as in the paper's runs (every IMPALA log's ``grad_gnorm`` is 40.0). Table 1 does not
list ``clip_rewards`` for IMPALA, the scripts set it ``True``: psmarl clips (sign). RLlib
2.60's IMPALA learner always updates in a background thread while the env runners sample
(also with ``num_learners`` 0), so which weights collected which samples depends on timing:
a seeded IMPALA run does not repeat exactly (PPO, A2C and TRPO do).

Batch: old IMPALA's aggregator concatenated 160-step worker samples (8 envs x 20 steps)
until it had ``train_batch_size`` (512): 640 per update in the paper's runs (every IMPALA
log's iterations are multiples of 640 and not of 1280: ``docs/data/paper_logs.csv``), so
psmarl's default ``train_batch_size_per_learner`` is 640.

Iterations: RLlib's IMPALA ends an iteration after at least 10 s (old RLlib's
``min_iter_time_s``), so how many env steps an iteration holds depends on the machine's
speed. psmarl ends an IMPALA iteration after one train batch of sampled env steps
instead (as PPO, A2C and TRPO do), so progress rows have the same meaning for every
on-policy method. This changes only the reporting, not the learning.
"""

from __future__ import annotations

from dataclasses import dataclass

from psmarl.methods.ppo import PaperModel
from psmarl.methods.spec import MethodSpec, copied, settings_defaults


@dataclass(frozen=True)
class ImpalaTraining:
    """RLlib's IMPALA training settings: the paper's Table 1 and scripts (old RLlib names in
    the module docstring)."""

    lr: float | list[list[float]] = copied([[0, 5e-4], [20_000_000, 1e-12]])
    """learning-rate schedule [[env step, lr], ...]: the scripts' lr_schedule, from 5e-4
    (Table 1 prints 5e-3; the scripts and old RLlib's default start at 5e-4) to 1e-12 at 2e7"""
    gamma: float = 0.99
    """discount (Table 4)"""
    train_batch_size_per_learner: int = 640
    """env steps per update: old IMPALA concatenated 160-step worker samples until it had
    train_batch_size 512, i.e. 640 (every IMPALA log, docs/data/paper_logs.csv)"""
    vf_loss_coeff: float = 0.5
    """value-loss coefficient (old IMPALA's default, kept by RLlib 2.60)"""
    entropy_coeff: float = 0.01
    """entropy bonus coefficient (old IMPALA's default)"""
    grad_clip: float = 40.0
    """gradient-norm clip (old IMPALA's default), on the gradient of the loss as reduced by
    loss_reduction"""
    loss_reduction: str = "sum"
    """"sum": the V-trace loss summed over the batch, as old RLlib (grad_clip then clips it
    on every update, as in the paper's runs); "mean": RLlib 2.60's average"""
    vtrace_clip_rho_threshold: float = 1.0
    """V-trace's rho-bar, the importance-weight clip of the value targets (old default)"""
    vtrace_clip_pg_rho_threshold: float = 1.0
    """V-trace's importance-weight clip of the policy gradient (old default)"""


@dataclass(frozen=True)
class ImpalaEnvRunners:
    """RLlib's env_runners settings of IMPALA (Table 1)."""

    rollout_fragment_length: int | str = 20
    """env steps per env per sample (Table 1 sample_batch_size 20)"""
    batch_mode: str = "truncate_episodes"
    """fixed-length fragments, not whole episodes (Table 1; RLlib's default)"""


@dataclass(frozen=True)
class ImpalaSettings:
    """IMPALA's psmarl defaults: RLlib config groups and psmarl's own keys."""

    training: ImpalaTraining = copied(ImpalaTraining())
    """RLlib's training() settings"""
    model: PaperModel = copied(PaperModel())
    """RLlib's model settings (the paper's network, Table 4)"""
    env_runners: ImpalaEnvRunners = copied(ImpalaEnvRunners())
    """RLlib's env_runners() settings"""
    clip_rewards: bool | float = True
    """sign-clip training rewards (the paper's scripts set clip_rewards True; Table 1 does not
    list it)"""


def _customize(config, method_settings, env_settings):
    batch = int(
        (method_settings.get("training") or {}).get(
            "train_batch_size_per_learner", config.train_batch_size_per_learner
        )
    )
    return config.reporting(min_time_s_per_iteration=0, min_sample_timesteps_per_iteration=batch)


def _base():
    from psmarl.methods.impala_rllib import PsmarlIMPALAConfig

    return PsmarlIMPALAConfig()


IMPALA = MethodSpec(
    name="impala",
    family="policy_gradient",
    action_kinds=frozenset({"discrete", "continuous"}),
    base_config=_base,
    defaults=settings_defaults(ImpalaSettings),
    settings=ImpalaSettings,
    customize=_customize,
    description="IMPALA with V-trace (Espeholt et al., 2018)",
    limits={
        "training.gamma": (0, 1),
        "training.train_batch_size_per_learner": (1, None),
        "training.vf_loss_coeff": (0, None),
        "training.entropy_coeff": (0, None),
        "training.grad_clip": (0, None),
        "training.vtrace_clip_rho_threshold": (0, None),
        "training.vtrace_clip_pg_rho_threshold": (0, None),
        "env_runners.rollout_fragment_length": (1, None),
    },
)
