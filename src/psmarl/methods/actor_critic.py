"""A2C and TRPO: the PPO-derived on-policy actor-critics, on RLlib 2.60's PPO machinery.

Neither algorithm ships with RLlib 2.60 (A2C was removed in Ray 2.9, TRPO was never in
RLlib). Both reuse PPO's sampling (synchronous EnvRunners), its learner connector
(one artificial timestep per episode chunk + generalized advantage estimation) and its
default actor-critic RLModule (``DefaultPPOTorchRLModule``), and differ only in the
update their Learner performs on one train batch. The RLlib classes live in
:mod:`psmarl.methods.actor_critic_rllib` (imported only when a config is built, so
importing psmarl stays free of Ray), TRPO's math in :mod:`psmarl.methods.trust_region`.

**A2C** (Mnih et al. 2016, synchronous version as in Dhariwal et al. 2017 / old RLlib's
``A2CTrainer``): one gradient step per train batch on the whole batch (``num_epochs`` 1,
no minibatches), loss ``-mean(logp(a|s) * A) + vf_loss_coeff * 0.5 * mean((V(s) - R)^2)
- entropy_coeff * mean(H)``, with ``A = R - V(s)`` (no ratio, no clipping, no KL term, no
advantage standardisation unless ``standardize_advantages`` is set). ``R`` are GAE value
targets (``lambda_`` 1.0 = discounted returns bootstrapped at truncation, as A3C's
``use_gae`` default with ``lambda`` 1.0).

Paper (old RLlib, Table 1) name -> RLlib 2.60 name: ``sample_batch_size`` ->
``env_runners.rollout_fragment_length``; ``train_batch_size`` ->
``training.train_batch_size_per_learner``; ``lr_schedule [[0, a], [2e7, b]]`` ->
``training.lr: [[0, a], [2e7, b]]`` (RLlib 2.60 takes a schedule in ``lr``, indexed by
sampled env steps); ``clip_rewards`` -> psmarl's ``clip_rewards``. Old A3C defaults kept:
``vf_loss_coeff`` 0.5, ``entropy_coeff`` 0.01, ``grad_clip`` 40, Adam.

Not matched exactly, documented: the paper's Table 1 prints A2C's learning-rate schedule as
starting at 7e-3, but the script that ran it (``parameterSharing*.py`` in
github.com/parametersharingmadrl/parametersharingmadrl) starts at 7e-4 (0.0007); psmarl uses
the script's 7e-4. Old RLlib summed the loss over the batch; so does psmarl's
``loss_reduction: sum`` (RLlib 2.60's losses average): Adam takes the same steps on either,
but the gradient-norm clip of 40 clips the sum's gradient on every update (every A2C log's
``grad_gnorm`` is 40.0) and the mean's almost never. Old RLlib's A2C concatenated whole
sampling rounds until it had at least ``train_batch_size`` (512) steps: 8 runners x 8 envs x
20 = 1280 steps per update in the paper's runs (every A2C log's iterations are multiples of
1280, and every sampled step was trained: ``docs/data/paper_logs.csv``). So psmarl's default
``train_batch_size_per_learner`` is 1280, sampled in chunks of ``rollout_fragment_length``
20 steps per env (the paper's ``sample_batch_size``): one round on the paper's 8 x 8 envs,
four on a laptop's 2 x 8. With ``lambda_`` 1.0 the chunk length is the return's horizon:
``auto`` would split 1280 over the envs (80 steps on 2 x 8), 80-step returns instead of the
paper's 20.

Rewards are not clipped: Table 1 prints ``clip_rewards: True`` for A2C, but the scripts that
ran it leave old RLlib's default (``None``: clip for Atari only), and none of the six A2C
``params.json`` of the paper's repository has the key. On pursuit, sign clipping would make
a tag (+0.01) worth as much as a catch (+5); psmarl's A2C with clipping collapsed its
policy's entropy to 0.1 nats within 0.1M env steps, while the paper's log kept it near 1.5
(``docs/fidelity.md``).

**TRPO** (Schulman et al. 2015): never run by the paper's code (its curves were taken
from Gupta et al. 2017, who used rllab's TRPO). One policy step per train batch: the
natural gradient ``x = F^-1 g`` by conjugate gradient with Fisher-vector products (the
Hessian of the mean KL between the old and the new action distributions, plus
``cg_damping * I``), scaled to the KL limit (``sqrt(2 max_kl / x.Fx) * x``), then a
backtracking line search (``line_search_coeff ** k``, at most ``line_search_steps``
tries) that accepts the first step whose KL is within ``max_kl`` and whose surrogate
``mean(pi/pi_old * A) + entropy_coeff * mean(H)`` improves; none -> no policy change.
The value function is a separate network (``vf_share_layers: false``, the default)
regressed on the GAE value targets by ``vf_iters`` full-batch Adam steps with learning
rate ``lr``; with ``vf_share_layers: true`` the shared layers belong to the policy (they
move only by the trust-region step) and the regression trains the value head alone.
Defaults: ``max_kl`` 0.01 (Gupta et al.'s runs, sisl/MADRL), ``cg_iters`` 10,
``line_search_coeff`` 0.8 x 15 steps (rllab's), ``cg_damping`` 0.1, ``lambda_`` 0.97,
standardized advantages (rllab's ``center_adv``), 8000 env steps per batch (MADRL's
rllab runner), Fisher-vector products on the whole batch (``fisher_fraction`` 1.0, as
rllab; OpenAI baselines uses 0.2, which makes the step several times cheaper); the network
is the paper's [400, 300] ReLU MLP, for the policy and the value function (Gupta used
[128, 128] and often a linear baseline; psmarl gives every method the paper's network).
Rewards are not clipped (rllab did not clip; the paper gives no TRPO settings).

PPO's settings that these two do not have (``clip_param``, ``vf_clip_param``,
``kl_coeff``, ``kl_target``, ``use_critic``; for TRPO also ``vf_loss_coeff``) are not
attributes of their configs, so the config check rejects them as unknown keys;
``num_epochs`` other than 1, a ``minibatch_size`` or ``use_kl_loss`` fail the RLlib
config's validation. Both repeat exactly for a given ``debugging(seed=...)`` with local
sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

from psmarl.methods.ppo import AutoFragment, PaperModel
from psmarl.methods.spec import MethodSpec, copied, settings_defaults


# ---------------------------------------------------------------- the settings
@dataclass(frozen=True)
class A2CTraining:
    """A2C's training settings: the paper's Table 1 and script (old names in the module
    docstring)."""

    lr: float | list[list[float]] = copied([[0, 7e-4], [20_000_000, 1e-12]])
    """learning-rate schedule [[env step, lr], ...]: the script's lr_schedule, from 7e-4
    (Table 1 prints 7e-3; the script that ran it starts at 7e-4) to 1e-12 at 2e7"""
    gamma: float = 0.99
    """discount (Table 4)"""
    lambda_: float = 1.0
    """GAE lambda: 1.0 = discounted returns bootstrapped at truncation (old A3C's use_gae
    default with lambda 1.0)"""
    train_batch_size_per_learner: int = 1280
    """env steps per update: old A2C trained whole rounds of 8 runners x 8 envs x 20 steps
    (every A2C log's iterations are multiples of 1280, docs/data/paper_logs.csv)"""
    vf_loss_coeff: float = 0.5
    """value-loss coefficient (old A3C's default)"""
    entropy_coeff: float = 0.01
    """entropy bonus coefficient (old A3C's default)"""
    grad_clip: float = 40.0
    """gradient-norm clip (old A3C's default), on the gradient of the loss as reduced by
    loss_reduction"""
    loss_reduction: str = "sum"
    """"sum": the loss summed over the batch, as old RLlib's A3C (with Adam the same steps
    as the mean's, but grad_clip clips the sum's gradient: always, in the paper's runs);
    "mean": averaged, which grad_clip 40 almost never clips"""


@dataclass(frozen=True)
class A2CFragment:
    """RLlib's env_runners settings of A2C."""

    rollout_fragment_length: int | str = 20
    """env steps per env per sample, the paper's sample_batch_size 20: each chunk's returns
    bootstrap after at most 20 steps (lambda_ 1.0) on any layout; 1280 is 4 rounds on
    2 x 8 envs, 1 on the paper's 8 x 8 ("auto" would split 1280 over the envs: 80 steps on
    2 x 8)"""


@dataclass(frozen=True)
class A2CSettings:
    """A2C's psmarl defaults: RLlib config groups and psmarl's own keys."""

    training: A2CTraining = copied(A2CTraining())
    """training() settings of psmarl's A2CConfig"""
    model: PaperModel = copied(PaperModel())
    """RLlib's model settings (the paper's network, Table 4)"""
    env_runners: A2CFragment = copied(A2CFragment())
    """RLlib's env_runners() settings (20 steps per env, the paper's sample_batch_size)"""
    clip_rewards: bool | float = False
    """sign-clip training rewards: no (the scripts leave old RLlib's default, clip for Atari
    only; Table 1 prints True)"""


@dataclass(frozen=True)
class TRPOTraining:
    """TRPO's training settings: the paper gives none (its TRPO curves are Gupta et al.'s,
    rllab); rllab's and Gupta et al.'s values (module docstring)."""

    lr: float = 1e-3
    """learning rate of the value function's Adam regression"""
    gamma: float = 0.99
    """discount"""
    lambda_: float = 0.97
    """GAE lambda"""
    train_batch_size_per_learner: int = 8000
    """env steps per update (MADRL's rllab runner)"""
    max_kl: float = 0.01
    """trust-region KL limit (Gupta et al.'s runs, sisl/MADRL)"""
    cg_iters: int = 10
    """conjugate-gradient iterations for F^-1 g"""
    cg_damping: float = 0.1
    """damping added to the Fisher-vector product (cg_damping * I)"""
    line_search_steps: int = 15
    """backtracking line-search tries (rllab's)"""
    line_search_coeff: float = 0.8
    """step shrink factor per line-search try (rllab's)"""
    vf_iters: int = 5
    """full-batch Adam steps of the value regression per batch"""
    fisher_fraction: float = 1.0
    """fraction of the batch for Fisher-vector products (1.0 as rllab; OpenAI baselines 0.2)"""
    entropy_coeff: float = 0.0
    """entropy bonus in the surrogate (rllab: none)"""
    standardize_advantages: bool = True
    """standardize advantages per batch (rllab's center_adv)"""


@dataclass(frozen=True)
class SeparateValueModel(PaperModel):
    """The paper's network, with a separate value network (TRPO)."""

    vf_share_layers: bool = False
    """a separate value network; with true the shared layers move only by the trust-region
    step and the regression trains the value head alone"""


@dataclass(frozen=True)
class TRPOSettings:
    """TRPO's psmarl defaults: RLlib config groups and psmarl's own keys."""

    training: TRPOTraining = copied(TRPOTraining())
    """training() settings of psmarl's TRPOConfig"""
    model: SeparateValueModel = copied(SeparateValueModel())
    """RLlib's model settings (the paper's [400, 300] ReLU MLP for policy and value; Gupta
    et al. used [128, 128])"""
    env_runners: AutoFragment = copied(AutoFragment())
    """RLlib's env_runners() settings"""
    clip_rewards: bool | float = False
    """rewards are not clipped (rllab did not clip; the paper gives no TRPO settings)"""


# ---------------------------------------------------------------- the specs
def _a2c_base():
    from psmarl.methods.actor_critic_rllib import A2CConfig

    return A2CConfig()


def _trpo_base():
    from psmarl.methods.actor_critic_rllib import TRPOConfig

    return TRPOConfig()


_COMMON_LIMITS = {
    "training.gamma": (0, 1),
    "training.lambda_": (0, 1),
    "training.train_batch_size_per_learner": (1, None),
    "training.entropy_coeff": (0, None),
    "training.vf_loss_coeff": (0, None),
    "training.grad_clip": (0, None),
}

A2C = MethodSpec(
    name="a2c",
    family="policy_gradient",
    action_kinds=frozenset({"discrete", "continuous"}),
    base_config=_a2c_base,
    defaults=settings_defaults(A2CSettings),
    settings=A2CSettings,
    description="Advantage actor-critic, synchronous (Mnih et al., 2016)",
    batch_in_rounds=True,
    limits=dict(_COMMON_LIMITS),
)

TRPO = MethodSpec(
    name="trpo",
    family="policy_gradient",
    action_kinds=frozenset({"discrete", "continuous"}),
    base_config=_trpo_base,
    defaults=settings_defaults(TRPOSettings),
    settings=TRPOSettings,
    description="Trust Region Policy Optimization (Schulman et al., 2015)",
    batch_in_rounds=True,
    limits={
        **_COMMON_LIMITS,
        "training.lr": (0, None),
        "training.max_kl": (0, None),
        "training.cg_iters": (1, None),
        "training.cg_damping": (0, None),
        "training.line_search_steps": (1, None),
        "training.line_search_coeff": (0, 1),
        "training.vf_iters": (0, None),
        "training.fisher_fraction": (1e-6, 1),
    },
)
