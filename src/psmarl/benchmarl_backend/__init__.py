"""MADDPG and QMIX baselines (the paper's Appendix C, Figure 5) from BenchMARL 1.5.2.

The two methods are entries of the one method catalogue (:mod:`psmarl.methods.benchmarl`:
their specs, settings, defaults and checks; ``backend="benchmarl"``). This module holds
what the workflow needs of them without importing torch or BenchMARL: their resolved
settings per env and the action adapters (the run specs, the job grid and validation are
:mod:`psmarl.config`'s, one for both backends). Training lives in
:mod:`psmarl.benchmarl_backend.train`, the evaluation policy in
:mod:`psmarl.benchmarl_backend.policy`, the action adapters in
:mod:`psmarl.benchmarl_backend.actions`. Install with the ``marl`` extra
(``pip install -e .[marl]``).
See ``docs/baselines.md``.

Config (``methods:`` section, as every method; every key in ``config/README.md``)::

    methods:
      maddpg:
        sharing: [independent]     # default: the top-level `sharing` list
        envs: [pursuit, ...]       # default: every env in `envs`
        lr: 0.0001                 # any setting of DEFAULTS
        per_env: {pursuit: {...}}  # per-env overrides
      qmix:
        bins: 3

The section's old name, ``baselines:``, is still read (as if its entries were under
``methods:``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from psmarl import methods
from psmarl.errors import ConfigError
from psmarl.methods.benchmarl import BACKEND, DEFAULTS, check_settings

#: the group every agent is in (BenchMARL group name); the evaluation policy's module id
GROUP = "agents"
POLICY_KIND = "benchmarl"
CHECKPOINT_FILE = "benchmarl.pt"
#: BenchMARL's methods of the catalogue
METHODS = tuple(n for n in methods.names() if methods.backend(n) == BACKEND)


def names() -> list[str]:
    return list(METHODS)


def resolve(config: Mapping[str, Any], method: str, env: str) -> dict[str, Any]:
    """A method's settings for one env: defaults <- the network axis (``network:``) <-
    methods.<m> <- methods.<m>.per_env.<env> (or the same under ``baselines.<m>``, the old
    name of the section)."""
    sections = methods.sections(config)
    if method not in METHODS:
        raise ConfigError(
            f"unknown BenchMARL method {method!r}; known: {', '.join(METHODS)}", key="methods"
        )
    where, mcfg = sections.get(method, (f"methods.{method}", {}))
    per_env = dict((mcfg.get("per_env") or {}).get(env) or {})
    per_env.pop("budget", None)
    common = {k: v for k, v in mcfg.items() if k not in methods.STRUCTURE_KEYS}
    check_settings(method, common, where)
    check_settings(method, per_env, f"{where}.per_env.{env}")
    network = methods.get(method).network_overlay(config.get("network"))
    out = {**DEFAULTS[method], **network, **common, **per_env}
    if out.get("bins") is False:
        out["bins"] = None
    if out["frames_per_batch"] % out["n_envs"]:
        key = "per_env." + env if {"frames_per_batch", "n_envs"} & set(per_env) else ""
        raise ConfigError(
            f"frames_per_batch ({out['frames_per_batch']}) must be a multiple of "
            f"n_envs ({out['n_envs']})",
            key=f"{where}{'.' + key if key else ''}.frames_per_batch",
        )
    return out


# ---------------------------------------------------------------- action adapters
@functools.lru_cache(maxsize=64)
def _action_kind_cached(settings_json: str) -> str:
    from psmarl import envs

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
    """The action adapter a method needs on an env (see :mod:`psmarl.benchmarl_backend.actions`)."""
    kind = action_kind(env_settings)
    name = env_settings["name"]
    where = where or f"methods.{method}"
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
