"""Method registry: name -> how to train it (its :class:`MethodSpec`).

Every method of the catalogue (:mod:`psmarl.methods.catalogue`, the one list of methods:
the RLlib ones and BenchMARL's MADDPG and QMIX) is registered when this package is
imported; :func:`register` adds another one (a test's throwaway method, say).

An RLlib method's hyperparameters come from the config in three groups that map
one-to-one onto RLlib's AlgorithmConfig calls (``training``, ``env_runners``) and its
DefaultModelConfig (``model``), plus psmarl's own options; a BenchMARL method's are one flat
mapping (:mod:`psmarl.methods.benchmarl`). Every method's section of the config
(``methods.<name>``) also takes the keys of :data:`STRUCTURE_KEYS`: which envs and sharing
modes it trains on, its budget and per-env overrides.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from psmarl.dicts import deep_merge, normalize
from psmarl.errors import ConfigError
from psmarl.methods import benchmarl
from psmarl.methods.catalogue import METHODS
from psmarl.methods.spec import ACTION_KINDS, BACKENDS, MethodSpec
from psmarl.named_registry import Registry

SHARING_MODES = ("shared", "independent")
#: keys of a method's config section that select jobs or budgets, not settings
STRUCTURE_KEYS = ("envs", "sharing", "budget", "per_env")
#: the old name of the ``methods`` section for BenchMARL's methods, still read
OLD_SECTION = "baselines"


_REGISTRY: Registry[MethodSpec] = Registry("method", "methods")


def register(spec: MethodSpec) -> MethodSpec:
    unknown = set(spec.action_kinds) - set(ACTION_KINDS)
    if unknown:
        raise ValueError(f"method {spec.name!r}: unknown action kinds {unknown}")
    if spec.backend not in BACKENDS:
        raise ValueError(
            f"method {spec.name!r}: unknown backend {spec.backend!r}; use one of {BACKENDS}"
        )
    if spec.backend == "rllib" and spec.base_config is None:
        raise ValueError(f"method {spec.name!r}: an RLlib method needs base_config")
    return _REGISTRY.add(spec.name, spec)


names = _REGISTRY.names
get = _REGISTRY.get

for _spec in METHODS:
    register(_spec)


def backend(name: str) -> str:
    """What trains a method: ``rllib`` or ``benchmarl`` (ConfigError for an unknown name)."""
    return get(name).backend


def sections(config: Mapping[str, Any]) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """Every configured method -> (its config key, its section), ``methods:`` first.

    BenchMARL's methods may still sit under ``baselines:`` (the old name of their section):
    they are read as if under ``methods:``; a method under both is an error naming both.
    """
    out: dict[str, tuple[str, Mapping[str, Any]]] = {
        str(m): (f"methods.{m}", c or {}) for m, c in (config.get("methods") or {}).items()
    }
    old = config.get(OLD_SECTION) or {}
    if not isinstance(old, Mapping):
        raise ConfigError("must be a mapping of method names", key=OLD_SECTION)
    for m, c in old.items():
        if m in out:
            raise ConfigError(
                f"method {m!r} is configured twice, as methods.{m} and {OLD_SECTION}.{m}: "
                f"keep one ({OLD_SECTION}: is the old name of methods:)",
                key=f"{OLD_SECTION}.{m}",
            )
        if str(m) not in names() or backend(str(m)) != "benchmarl":
            known = [n for n in names() if get(n).backend == "benchmarl"]
            raise ConfigError(
                f"unknown baseline {m!r}; known: {', '.join(known)} (every method, "
                f"BenchMARL's included, can be configured under methods:)",
                key=OLD_SECTION,
            )
        out[str(m)] = (f"{OLD_SECTION}.{m}", c or {})
    return out


def resolve(
    name: str,
    method_config: Mapping[str, Any] | None,
    env_name: str,
    network: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The method's settings for one env: defaults <- the config's network axis <- config
    common <- config per_env[env]."""
    spec = get(name)
    cfg = dict(method_config or {})
    per_env = cfg.pop("per_env", {}) or {}
    cfg.pop("envs", None)  # which envs to train on: job selection, not a setting
    cfg.pop("sharing", None)  # which sharing modes: job selection, not a setting
    cfg.pop("budget", None)  # how long: psmarl.config.budget, not a setting
    env_cfg = {k: v for k, v in (per_env.get(env_name, {}) or {}).items() if k != "budget"}
    merged = deep_merge(spec.defaults, spec.network_overlay(network))
    merged = deep_merge(merged, cfg)
    merged = deep_merge(merged, env_cfg)
    return normalize(merged)


# psmarl's own per-method options beside the RLlib groups
PSMARL_KEYS = ("clip_rewards", "paper_measure")
GROUPS = ("training", "env_runners", "model")

#: How the paper's runs reported the average total reward (old RLlib's episode_reward_mean,
#: psmarl's ``paper_avg_total_reward``): the mean over the episodes that ended in the
#: iteration, topped up to ``window`` with the latest earlier ones (``metrics_smoothing_
#: episodes``: 100; the paper's SAC 5), of the env runners old RLlib reported (``all``; Ape-X
#: ``last_third``: its least-exploring runners, :func:`psmarl.methods.apex.reporting_runner`).
PAPER_MEASURE = {"window": 100, "runners": "all"}
PAPER_MEASURE_RUNNERS = ("all", "last_third")


def check_paper_measure(value: Any, where: str) -> dict[str, Any]:
    """A ``paper_measure`` setting with its defaults filled in (ConfigError names the key)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"must be a mapping with window and runners, got {value!r}", key=where)
    bad = sorted(set(value) - set(PAPER_MEASURE))
    if bad:
        raise ConfigError(f"unknown key(s) {bad}; use {', '.join(PAPER_MEASURE)}", key=where)
    out = {**PAPER_MEASURE, **value}
    w = out["window"]
    if isinstance(w, bool) or not isinstance(w, int) or w < 1:
        raise ConfigError(
            f"must be a positive integer (episodes), got {w!r}", key=f"{where}.window"
        )
    if out["runners"] not in PAPER_MEASURE_RUNNERS:
        raise ConfigError(
            f"must be one of {', '.join(PAPER_MEASURE_RUNNERS)}, got {out['runners']!r}",
            key=f"{where}.runners",
        )
    return out


def _keys_cache_file() -> Path:
    """Cache file of the methods' known keys, named by everything they are derived from."""
    h = hashlib.sha256(importlib.metadata.version("ray").encode())
    for f in sorted(Path(__file__).parent.rglob("*.py")):
        h.update(f.name.encode() + f.read_bytes())
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "psmarl"
    return root / f"method-keys-{h.hexdigest()[:16]}.json"


_KNOWN: dict[str, dict[str, frozenset[str]]] = {}


def _kwargs_of(cls: type, method: str) -> list[str]:
    """Keyword arguments `cls.<method>(...)` accepts, over the whole class hierarchy
    (subclasses add theirs and pass the rest on as **kwargs)."""
    import inspect

    names: set[str] = set()
    for klass in cls.__mro__:
        fn = klass.__dict__.get(method)
        if fn is None:
            continue
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
    return sorted(names)


def known_keys(name: str) -> dict[str, frozenset[str]]:
    """Settings a method accepts: the keyword arguments of its AlgorithmConfig's
    ``training()`` and ``env_runners()`` and DefaultModelConfig's fields ("model").

    Finding them imports RLlib (seconds); the answer is cached on disk under a name that
    hashes the RLlib version and psmarl's method modules, so `snakemake -n` stays fast.
    """
    if name in _KNOWN:
        return _KNOWN[name]
    cache = _keys_cache_file()
    data: dict[str, Any] = {}
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        data = {}
    if name not in data:
        import dataclasses
        import inspect

        from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

        base_config = get(name).base_config
        assert base_config is not None, f"{name} is not an RLlib method"
        config = base_config()
        cls = type(config)

        def settable(key: str) -> bool:
            # a kwarg is a setting if the config holds it (an attribute or a property);
            # deprecated aliases and plumbing (learner_connector) are not, nor are the
            # inherited settings a subclass deletes because its algorithm has no use for them
            return key in vars(config) or isinstance(
                inspect.getattr_static(cls, key, None), property
            )

        data[name] = {
            g: [k for k in _kwargs_of(cls, g) if settable(k)] for g in ("training", "env_runners")
        }
        data[name] = {
            **data[name],
            "model": sorted(f.name for f in dataclasses.fields(DefaultModelConfig)),
        }
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, cache)
        except OSError:
            pass  # a read-only home only costs speed
    _KNOWN[name] = {k: frozenset(v) for k, v in data[name].items()}
    return _KNOWN[name]


def check_settings(name: str, settings: Mapping[str, Any], where: str) -> None:
    """Reject a setting the method does not have (a misspelled key) or a value out of range.

    A BenchMARL method's settings are checked by
    :func:`psmarl.methods.benchmarl.check_settings`. An RLlib method's ``training`` and
    ``env_runners`` keys must be keyword arguments of the method's AlgorithmConfig
    ``training()`` / ``env_runners()`` (custom algorithms declare theirs there), ``model``
    keys fields of RLlib's DefaultModelConfig. ``where`` is the config key of ``settings``
    (for the message).
    """
    from psmarl.methods import intensity

    spec = get(name)
    if spec.backend == "benchmarl":
        benchmarl.check_settings(name, settings, where)
        return
    for key in settings:
        if key not in GROUPS and key not in PSMARL_KEYS:
            raise ConfigError(
                f"method {name!r} has no setting group {key!r} (use "
                f"{', '.join(GROUPS + PSMARL_KEYS)})",
                key=f"{where}.{key}",
            )
    if "paper_measure" in settings:
        check_paper_measure(settings["paper_measure"], f"{where}.paper_measure")
    keys = known_keys(name)
    for group in GROUPS:
        values = settings.get(group) or {}
        if not isinstance(values, Mapping):
            raise ConfigError("must be a mapping", key=f"{where}.{group}")
        for key, value in values.items():
            known = key in keys[group]
            if not known:
                raise ConfigError(
                    f"method {name!r} has no {group} setting {key!r}", key=f"{where}.{group}.{key}"
                )
            if group == "training" and key == "training_intensity":
                intensity.check(value, f"{where}.{group}.{key}")
                continue
            if (
                group == "training"
                and key == "target_network_update_unit"
                and value not in intensity.TARGET_UNITS
            ):
                raise ConfigError(
                    f"must be one of {', '.join(intensity.TARGET_UNITS)}, got {value!r}",
                    key=f"{where}.{group}.{key}",
                )
            default = (spec.defaults.get(group) or {}).get(key)
            if isinstance(default, bool) and not isinstance(value, bool):
                # a switch psmarl sets (e.g. vf_clip_to_previous): "false" must not read as on
                raise ConfigError(
                    f"must be true or false, got {value!r}", key=f"{where}.{group}.{key}"
                )
            bounds = spec.limits.get(f"{group}.{key}")
            if (
                bounds is not None
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
            ):
                lo, hi = bounds
                if (lo is not None and value < lo) or (hi is not None and value > hi):
                    rng = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
                    raise ConfigError(
                        f"method {name!r}: {value!r} is outside {rng}", key=f"{where}.{group}.{key}"
                    )


def action_kind(space) -> str:
    from gymnasium.spaces import Box, Discrete

    if isinstance(space, Discrete):
        return "discrete"
    if isinstance(space, Box):
        return "continuous"
    raise ConfigError(f"unsupported action space {space}")
