"""MADDPG and QMIX (the paper's Appendix C, Figure 5), trained by BenchMARL 1.5.2: their
catalogue entries, settings, defaults and checks.

Nothing here imports torch or BenchMARL: training lives in :mod:`psmarl.marl.train`, the
action adapters (how each method acts on the other action kind) in :mod:`psmarl.marl`.
The settings are one flat mapping per method (``methods.maddpg.lr``, ...); every key and
its default below and in ``config/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psmarl.errors import ConfigError
from psmarl.methods.spec import MethodSpec

BACKEND = "benchmarl"

# Shared by both methods. Table 4 of the paper: [400, 300] MLP, gamma 0.99.
_COMMON = {
    "hidden": [400, 300],
    "activation": "relu",  # relu | tanh
    "gamma": 0.99,
    "lr": 0.0005,
    "train_batch_size": 512,  # transitions per gradient step
    "memory_size": 20_000,  # replay memory in transitions (uniform sampling)
    "frames_per_batch": 1000,  # env steps collected per iteration (over all envs)
    "n_envs": 4,  # envs stepped in lockstep by the collector
    "optimizer_steps": 250,  # gradient steps per iteration (1 per 4 env steps)
    "init_random_frames": 0,
    "polyak_tau": 0.005,  # soft target updates
    "clip_grad_norm": 10.0,
    "exploration_eps_init": 1.0,
    "exploration_eps_end": 0.05,
    "exploration_anneal_frames": 50_000,
    # the optimiser: BenchMARL's Adam, or RMSprop (pymarl's, the paper's QMIX) with
    # smoothing optim_alpha; optim_eps is either one's epsilon (BenchMARL's adam_eps 1e-6)
    "optimizer": "adam",
    "optim_alpha": 0.99,
    "optim_eps": 1e-6,
}

DEFAULTS: dict[str, dict[str, Any]] = {
    # Table 3: MADDPG lr 1e-4, batch 512, epsilon 1.0 -> 0.05, buffer 1e5, 4 steps/update.
    # discrete_actions: how MADDPG (continuous only in BenchMARL) acts on a Discrete env:
    # "argmax" (a score per action, the env takes the largest) or null (refuse).
    "maddpg": {
        **_COMMON,
        "lr": 0.0001,
        "share_param_critic": True,
        "loss_function": "l2",
        "delay_value": True,
        "use_tanh_mapping": True,
        "discrete_actions": "argmax",
    },
    # Table 3: QMIX lr 5e-4, gamma 0.99, grad norm clip 10, buffer 1e5; RMSprop with
    # optim_alpha 0.99 and optim_eps 1e-5 as the paper's pymarl runs (plot/qmix_results/
    # <env>/config.json; the printed Table 3's "optim_eps 0.05" is its epsilon_finish).
    # bins: values per action dimension on continuous envs (>= 2), or null to refuse them.
    "qmix": {
        **_COMMON,
        "lr": 0.0005,
        "mixing_embed_dim": 32,
        "delay_value": True,
        "loss_function": "l2",
        "bins": 3,
        "optimizer": "rmsprop",
        "optim_alpha": 0.99,
        "optim_eps": 1e-5,
    },
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
    description="QMIX (Rashid et al., 2018), BenchMARL: per-agent Q networks and a "
    "monotonic mixer; continuous envs through the bins adapter",
)
