"""Method registry: name -> how to build its RLlib AlgorithmConfig.

A method's hyperparameters come from the config in three groups that map one-to-one onto
RLlib's AlgorithmConfig calls (``training``, ``env_runners``) and its DefaultModelConfig
(``model``), plus psmarl's own options. Adding a method is one call to :func:`register`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from psmarl.errors import ConfigError
from psmarl.registry import Registry

SHARING_MODES = ("shared", "independent")
ACTION_KINDS = ("discrete", "continuous")


@dataclass(frozen=True)
class MethodSpec:
    name: str
    family: str
    action_kinds: frozenset[str]
    # returns a fresh AlgorithmConfig of the right class (imports RLlib lazily)
    base_config: Callable[[], Any]
    # psmarl's defaults for the method: {"training": {...}, "model": {...}, "env_runners": {...}, ...}
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # optional hook: (algo_config, method_settings, env_settings) -> algo_config
    customize: Callable[[Any, Mapping[str, Any], Mapping[str, Any]], Any] | None = None
    description: str = ""


_REGISTRY: Registry[MethodSpec] = Registry("method", "methods")


def register(spec: MethodSpec) -> MethodSpec:
    unknown = set(spec.action_kinds) - set(ACTION_KINDS)
    if unknown:
        raise ValueError(f"method {spec.name!r}: unknown action kinds {unknown}")
    return _REGISTRY.add(spec.name, spec)


names = _REGISTRY.names
get = _REGISTRY.get


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def normalize(obj: Any) -> Any:
    """Plain, key-sorted, JSON-like structure (stable repr for Snakemake's params check)."""
    if isinstance(obj, Mapping):
        return {str(k): normalize(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, (list, tuple)):
        return [normalize(v) for v in obj]
    if isinstance(obj, float) and obj.is_integer() and abs(obj) < 2**53:
        return obj  # keep floats as floats: 1.0 and 1 differ for RLlib
    return obj


def resolve(name: str, method_config: Mapping[str, Any] | None, env_name: str) -> dict[str, Any]:
    """The method's settings for one env: defaults <- config common <- config per_env[env]."""
    spec = get(name)
    cfg = dict(method_config or {})
    per_env = cfg.pop("per_env", {}) or {}
    merged = deep_merge(spec.defaults, cfg)
    merged = deep_merge(merged, per_env.get(env_name, {}) or {})
    return normalize(merged)


def action_kind(space) -> str:
    from gymnasium.spaces import Box, Discrete

    if isinstance(space, Discrete):
        return "discrete"
    if isinstance(space, Box):
        return "continuous"
    raise ConfigError(f"unsupported action space {space}")


from psmarl.methods import ppo  # noqa: E402,F401  (registers the built-in methods)
