"""MADDPG and QMIX (the paper's Appendix C, Figure 5), trained by BenchMARL 1.5.2: their
catalogue entries, settings, defaults and checks.

Nothing here imports torch or BenchMARL: training lives in
:mod:`psmarl.benchmarl_backend.train`, the action adapters (how each method acts on the other
action kind) in :mod:`psmarl.benchmarl_backend`.
The settings are one flat mapping per method (``methods.maddpg.lr``, ...); every key and
its default below and in ``config/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psmarl.errors import ConfigError
from psmarl.methods.spec import MethodSpec, settings_defaults

BACKEND = "benchmarl"


@dataclass(frozen=True)
class BenchmarlSettings:
    """Settings both BenchMARL methods take (Table 4 of the paper: [400, 300] MLP, gamma
    0.99)."""

    hidden: list[int] = field(default_factory=lambda: [400, 300])
    """layer sizes of the MLP of actors, critics and agent networks (Table 4)"""
    activation: str = "relu"
    """activation of those MLPs: relu or tanh"""
    gamma: float = 0.99
    """discount (Table 3)"""
    lr: float = 0.0005
    """learning rate of the optimiser"""
    train_batch_size: int = 512
    """transitions per gradient step"""
    memory_size: int = 20_000
    """replay memory in transitions (uniform sampling)"""
    frames_per_batch: int = 1000
    """env steps collected per iteration over all envs (a multiple of n_envs)"""
    n_envs: int = 4
    """envs stepped in lockstep by the collector"""
    optimizer_steps: int = 250
    """gradient steps per iteration (250 per 1000 steps: one per 4 env steps)"""
    init_random_frames: int = 0
    """random-action env steps before learning"""
    polyak_tau: float = 0.005
    """soft target-network update rate"""
    clip_grad_norm: float = 10.0
    """gradient-norm clip (Table 3 grad_norm_clip)"""
    exploration_eps_init: float = 1.0
    """MADDPG: Gaussian action-noise sigma; QMIX: epsilon-greedy epsilon, at the start"""
    exploration_eps_end: float = 0.05
    """the same at the end of the anneal (Table 3: 1.0 -> 0.05)"""
    exploration_anneal_frames: int = 50_000
    """env steps over which exploration is annealed linearly"""
    optimizer: str = "adam"
    """adam (BenchMARL's) or rmsprop (pymarl's, the paper's QMIX)"""
    optim_alpha: float = 0.99
    """RMSprop's smoothing constant (Table 3 optim_alpha)"""
    optim_eps: float = 1e-6
    """the optimiser's epsilon (Adam's adam_eps or RMSprop's eps)"""


@dataclass(frozen=True)
class MaddpgSettings(BenchmarlSettings):
    """MADDPG's settings (Table 3: lr 1e-4, batch 512, epsilon 1.0 -> 0.05, buffer 1e5, 4
    steps per update)."""

    lr: float = 0.0001
    """learning rate of the optimiser (Table 3)"""
    share_param_critic: bool = True
    """one critic network for the whole group"""
    loss_function: str = "l2"
    """the critic's loss: l1, l2 or smooth_l1"""
    delay_value: bool = True
    """use target networks"""
    use_tanh_mapping: bool = True
    """map the actor's output to the action bounds with tanh"""
    discrete_actions: str | None = "argmax"
    """on a Discrete env: argmax (one score per action, the env takes the largest) or null
    (refuse discrete envs)"""


@dataclass(frozen=True)
class QmixSettings(BenchmarlSettings):
    """QMIX's settings (Table 3: lr 5e-4, gamma 0.99, grad-norm clip 10, buffer 1e5; RMSprop
    with optim_alpha 0.99 and optim_eps 1e-5 as the paper's pymarl runs, plot/qmix_results/
    <env>/config.json; the printed Table 3's "optim_eps 0.05" is its epsilon_finish)."""

    lr: float = 0.0005
    """learning rate of the optimiser (Table 3)"""
    mixing_embed_dim: int = 32
    """width of the monotonic mixer"""
    delay_value: bool = True
    """use target networks"""
    loss_function: str = "l2"
    """the TD loss: l1, l2 or smooth_l1"""
    bins: int | None = 3
    """values per action dimension on continuous envs (>= 2), or null to refuse them"""
    optimizer: str = "rmsprop"
    """adam (BenchMARL's) or rmsprop (pymarl's, the paper's QMIX)"""
    optim_alpha: float = 0.99
    """RMSprop's smoothing constant (Table 3 optim_alpha)"""
    optim_eps: float = 1e-5
    """the optimiser's epsilon (the paper's pymarl QMIX: 1e-5)"""


#: each method's defaults, from its settings dataclass
DEFAULTS: dict[str, dict[str, Any]] = {
    "maddpg": settings_defaults(MaddpgSettings),
    "qmix": settings_defaults(QmixSettings),
}

_CHOICES = {
    "activation": ("relu", "tanh"),
    "loss_function": ("l1", "l2", "smooth_l1"),
    "discrete_actions": ("argmax", None),
    "optimizer": ("adam", "rmsprop"),
}
_POSITIVE_INT = (
    "train_batch_size",
    "memory_size",
    "frames_per_batch",
    "n_envs",
    "optimizer_steps",
    "mixing_embed_dim",
    "exploration_anneal_frames",
)


def _check_bins(value: Any, k: str) -> None:
    if value is None or value is False:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ConfigError(
            f"must be an integer >= 2 (values per action dimension), "
            f"or null to switch binning off; got {value!r}",
            key=k,
        )


def _check_number(key: str, value: Any, default: Any, k: str) -> None:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"must be true or false, got {value!r}", key=k)
        return
    if not isinstance(default, (int, float)):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"must be a number, got {value!r}", key=k)
    if key in _POSITIVE_INT and (not isinstance(value, int) or value < 1):
        raise ConfigError(f"must be a positive integer, got {value!r}", key=k)
    if key in ("lr", "polyak_tau", "clip_grad_norm", "optim_eps") and value <= 0:
        raise ConfigError(f"must be positive, got {value!r}", key=k)
    if key in ("gamma", "optim_alpha") and not 0 <= value <= 1:
        raise ConfigError(f"must be in [0, 1], got {value!r}", key=k)
    if key == "init_random_frames" and (not isinstance(value, int) or value < 0):
        raise ConfigError(f"must be a non-negative integer, got {value!r}", key=k)


def check_settings(method: str, settings: Mapping[str, Any], where: str) -> None:
    """Reject unknown keys and values of the wrong type or range, naming the key."""
    defaults = DEFAULTS[method]
    for key, value in settings.items():
        k = f"{where}.{key}"
        if key not in defaults:
            raise ConfigError(
                f"unknown setting for {method}; known: {', '.join(sorted(defaults))}", key=k
            )
        if key == "bins":
            _check_bins(value, k)
        elif key in _CHOICES:
            if value not in _CHOICES[key]:
                raise ConfigError(f"must be one of {list(_CHOICES[key])}, got {value!r}", key=k)
        elif key == "hidden":
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
            ):
                raise ConfigError(f"must be a list of positive integers, got {value!r}", key=k)
        else:
            _check_number(key, value, defaults[key], k)


MADDPG = MethodSpec(
    name="maddpg",
    family="benchmarl",
    backend=BACKEND,
    # continuous natively; discrete envs through the argmax adapter (discrete_actions)
    action_kinds=frozenset({"discrete", "continuous"}),
    defaults=DEFAULTS["maddpg"],
    settings=MaddpgSettings,
    description="MADDPG (Lowe et al., 2017), BenchMARL: an actor per agent (or one, "
    "shared) and a centralised critic; discrete envs through the argmax adapter",
)

QMIX = MethodSpec(
    name="qmix",
    family="benchmarl",
    backend=BACKEND,
    # discrete natively; continuous envs through the bins adapter (bins)
    action_kinds=frozenset({"discrete", "continuous"}),
    defaults=DEFAULTS["qmix"],
    settings=QmixSettings,
    description="QMIX (Rashid et al., 2018), BenchMARL: per-agent Q networks and a "
    "monotonic mixer; continuous envs through the bins adapter",
)
