"""MADDPG and QMIX baselines (the paper's Appendix C, Figure 5) from BenchMARL 1.5.2.

This module holds what the workflow needs without importing torch or BenchMARL: the two
methods' settings and defaults, their checks, their job grid and action adapters (the run
specs and the section's validation are :mod:`psmarl.config`'s, beside the RLlib ones:
:func:`psmarl.config.baseline_train_spec`, :func:`psmarl.config.validate_baselines`).
Training lives in :mod:`psmarl.marl.train`, the evaluation policy in
:mod:`psmarl.marl.policy`, the action adapters in :mod:`psmarl.marl.actions`. Install with
the ``marl`` extra (``pip install -e .[marl]``). See ``docs/baselines.md``.

Config (``baselines:`` section, every key in ``config/README.md``)::

    baselines:
      maddpg:
        sharing: [independent]     # default: the top-level `sharing` list
        envs: [pursuit, ...]       # default: every env in `envs`
        lr: 0.0001                 # any setting of DEFAULTS below
        per_env: {pursuit: {...}}  # per-env overrides
      qmix:
        bins: 3
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from psmarl.errors import ConfigError

METHODS = ("maddpg", "qmix")
#: the group every agent is in (BenchMARL group name); the evaluation policy's module id
GROUP = "agents"
POLICY_KIND = "benchmarl"
CHECKPOINT_FILE = "benchmarl.pt"

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
_STRUCTURE = ("sharing", "envs", "per_env")


def names() -> list[str]:
    return list(METHODS)


def _section(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config.get("baselines") or {}


def enabled(config: Mapping[str, Any]) -> list[str]:
    return [m for m in _section(config) if m in METHODS]


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
            if value is None or value is False:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ConfigError(
                    f"must be an integer >= 2 (values per action dimension), "
                    f"or null to switch binning off; got {value!r}",
                    key=k,
                )
            continue
        if key in _CHOICES:
            if value not in _CHOICES[key]:
                raise ConfigError(f"must be one of {list(_CHOICES[key])}, got {value!r}", key=k)
            continue
        if key == "hidden":
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
            ):
                raise ConfigError(f"must be a list of positive integers, got {value!r}", key=k)
            continue
        default = defaults[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"must be true or false, got {value!r}", key=k)
        elif isinstance(default, (int, float)):
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


def resolve(config: Mapping[str, Any], method: str, env: str) -> dict[str, Any]:
    """A method's settings for one env: defaults <- baselines.<m> <- baselines.<m>.per_env."""
    if method not in METHODS:
        raise ConfigError(
            f"unknown baseline {method!r}; known: {', '.join(METHODS)}", key="baselines"
        )
    mcfg = dict(_section(config).get(method) or {})
    per_env = dict((mcfg.get("per_env") or {}).get(env) or {})
    common = {k: v for k, v in mcfg.items() if k not in _STRUCTURE}
    check_settings(method, common, f"baselines.{method}")
    check_settings(method, per_env, f"baselines.{method}.per_env.{env}")
    out = {**DEFAULTS[method], **common, **per_env}
    if out.get("bins") is False:
        out["bins"] = None
    if out["frames_per_batch"] % out["n_envs"]:
        key = "per_env." + env if {"frames_per_batch", "n_envs"} & set(per_env) else ""
        raise ConfigError(
            f"frames_per_batch ({out['frames_per_batch']}) must be a multiple of "
            f"n_envs ({out['n_envs']})",
            key=f"baselines.{method}{'.' + key if key else ''}.frames_per_batch",
        )
    return out


def method_envs(config: Mapping[str, Any], method: str) -> list[str]:
    listed = (_section(config).get(method) or {}).get("envs")
    return list(listed) if listed else list((config.get("envs") or {}).keys())


def method_sharing(config: Mapping[str, Any], method: str) -> list[str]:
    listed = (_section(config).get(method) or {}).get("sharing")
    return list(listed) if listed else list(config.get("sharing", ["shared", "independent"]))


def jobs(config: Mapping[str, Any]) -> list[tuple[str, str, str, int]]:
    """Every (env, method, sharing, seed) of the baselines section, in config order."""
    out = []
    envs = list((config.get("envs") or {}).keys())
    for env in envs:
        for method in enabled(config):
            if env not in method_envs(config, method):
                continue
            for sharing in method_sharing(config, method):
                for seed in config.get("seeds", [0]):
                    out.append((env, method, sharing, int(seed)))
    return out


# ---------------------------------------------------------------- action adapters
@functools.lru_cache(maxsize=64)
def _action_kind_cached(settings_json: str) -> str:
    from psmarl import envs, methods

    env = envs.make_parallel_env(json.loads(settings_json))
    try:
        kinds = {methods.action_kind(env.action_space(a)) for a in env.possible_agents}
    finally:
        env.close()
    if len(kinds) != 1:
        raise ConfigError(
            f"{json.loads(settings_json)['name']!r} mixes {'/'.join(sorted(kinds))} actions",
            key="envs",
        )
    return kinds.pop()


def action_kind(env_settings: Mapping[str, Any]) -> str:
    """'discrete' or 'continuous': the action space of every agent of the env."""
    return _action_kind_cached(json.dumps(dict(env_settings), sort_keys=True))


def action_adapter(
    method: str,
    settings: Mapping[str, Any],
    env_settings: Mapping[str, Any],
    where: str | None = None,
) -> dict[str, Any] | None:
    """The action adapter a method needs on an env (see :mod:`psmarl.marl.actions`)."""
    kind = action_kind(env_settings)
    name = env_settings["name"]
    where = where or f"baselines.{method}"
    if method == "qmix" and kind == "continuous":
        bins = settings.get("bins")
        if bins is None:
            raise ConfigError(
                f"QMIX needs discrete actions and {name!r} has continuous (Box) actions, but "
                f"binning is switched off: set {where}.bins to an integer >= 2 or drop "
                f"{name!r} from {where}.envs",
                key=f"{where}.bins",
            )
        return {"kind": "bins", "bins": int(bins)}
    if method == "maddpg" and kind == "discrete":
        if settings.get("discrete_actions") is None:
            raise ConfigError(
                f"BenchMARL's MADDPG needs continuous actions and {name!r} has discrete "
                f"actions, but discrete_actions is null: set {where}.discrete_actions to "
                f"'argmax' or drop {name!r} from {where}.envs",
                key=f"{where}.discrete_actions",
            )
        return {"kind": "argmax"}
    return None
