"""Environment registry: name -> PettingZoo constructor, presets and wrappers.

Every environment of the catalogue (:mod:`psmarl.envs.catalogue`, the one list of envs) is
registered when this package is imported; :func:`register` adds another one (a test's
throwaway env, say). Adding an environment is one module that builds an
:class:`psmarl.envs.spec.EnvSpec` and one entry in the catalogue (``docs/extending.md``).
Every environment is built as a PettingZoo *parallel* env, with the same wrappers in
training, evaluation and the random baseline, so the three see identical observations.
An env can have two implementations (``backend``): ``pettingzoo``, the library's own, and
``fast``, psmarl's step-for-step equal one (``psmarl.envs.fast_sisl``, the SISL games).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from psmarl.envs.catalogue import ENVS
from psmarl.envs.spec import AGENT_INDICATION, BACKENDS, EnvOption, EnvSpec, Preset
from psmarl.errors import ConfigError
from psmarl.named_registry import Registry

__all__ = [
    "AGENT_INDICATION",
    "BACKENDS",
    "EnvOption",
    "EnvSpec",
    "Preset",
    "agent_ids",
    "backend_of",
    "get",
    "make_parallel_env",
    "names",
    "register",
    "resolve",
]


_REGISTRY: Registry[EnvSpec] = Registry("environment", "envs")


def register(spec: EnvSpec) -> EnvSpec:
    if not spec.presets:
        raise ValueError(f"environment {spec.name!r} needs at least one preset")
    if spec.default_preset not in spec.presets:
        raise ValueError(
            f"environment {spec.name!r}: default preset {spec.default_preset!r} "
            f"is not one of its presets"
        )
    for pname, preset in spec.presets.items():
        if preset.agent_indication not in AGENT_INDICATION:
            raise ValueError(
                f"{spec.name}.{pname}: agent_indication must be one of {AGENT_INDICATION}"
            )
        unknown = sorted(set(preset.options) - set(spec.options))
        if unknown:
            raise ValueError(f"{spec.name}.{pname}: unknown option(s) {unknown}")
        if preset.backend not in spec.backends():
            raise ValueError(
                f"{spec.name}.{pname}: backend {preset.backend!r} is not one of {spec.backends()}"
            )
    if spec.options and spec.wrap_options is None:
        raise ValueError(f"environment {spec.name!r} has options but no wrap_options")
    return _REGISTRY.add(spec.name, spec)


names = _REGISTRY.names
get = _REGISTRY.get

for _spec in ENVS:
    register(_spec)


def resolve(
    name: str,
    preset: str | None = None,
    kwargs: Mapping[str, Any] | None = None,
    agent_indication: str | None = None,
    pad_observations: bool | None = None,
    pad_actions: bool | None = None,
    options: Mapping[str, Any] | None = None,
    backend: str | None = None,
) -> dict[str, Any]:
    """Resolve an env choice into the plain settings dict that fully defines it.

    ``preset`` None means the env's default preset (``paper`` for the SISL games); the
    other options left None take the preset's value. The result is what the workflow
    passes as a rule's params and what run folders record. It names the ``backend`` only
    when it is not the preset's own (:func:`backend_of`): the backends give equal steps, so
    settings recorded before there were backends, or before a preset changed its own, still
    describe the same env (and Snakemake reruns nothing for them).
    """
    spec = get(name)
    if preset is None:
        preset = spec.default_preset
    if preset not in spec.presets:
        raise ConfigError(
            f"unknown preset {preset!r} for environment {name!r}; "
            f"choose one of: {', '.join(sorted(spec.presets))}",
            key=f"envs.{name}.preset",
        )
    p = spec.presets[preset]
    impl = p.backend if backend is None else backend
    if impl not in spec.backends():
        why = "" if impl in BACKENDS else f" (backends: {', '.join(BACKENDS)})"
        raise ConfigError(
            f"environment {name!r} has no backend {impl!r}{why}; "
            f"choose one of: {', '.join(spec.backends())}",
            key=f"envs.{name}.backend",
        )
    merged = dict(p.kwargs)
    extra = dict(kwargs or {})
    if extra:
        accepted = spec.accepted_kwargs(impl)
        if accepted is not None:
            bad = sorted(set(extra) - accepted)
            if bad:
                raise ConfigError(
                    f"environment {name!r} does not accept argument(s) {', '.join(bad)}; "
                    f"it accepts: {', '.join(sorted(accepted))}",
                    key=f"envs.{name}.kwargs",
                )
        merged.update(extra)
    if impl == "fast":
        _check_fast(spec, name, merged)
    ind = p.agent_indication if agent_indication is None else agent_indication
    if ind not in AGENT_INDICATION:
        raise ConfigError(
            f"agent_indication must be one of {', '.join(AGENT_INDICATION)}, got {ind!r}",
            key=f"envs.{name}.agent_indication",
        )
    pads = {}
    for opt, given, default in (
        ("pad_observations", pad_observations, p.pad_observations),
        ("pad_actions", pad_actions, p.pad_actions),
    ):
        value = default if given is None else given
        if not isinstance(value, bool):
            raise ConfigError(f"must be true or false, got {value!r}", key=f"envs.{name}.{opt}")
        pads[opt] = value
    opts = {k: v.default for k, v in spec.options.items()}
    opts.update(p.options)
    if options:
        bad = sorted(set(options) - set(spec.options))
        if bad:
            known = ", ".join(sorted(spec.options)) or "none"
            raise ConfigError(
                f"environment {name!r} has no option(s) {', '.join(bad)}; its options: {known}",
                key=f"envs.{name}.options",
            )
        for opt, value in options.items():
            if isinstance(spec.options[opt].default, bool) and not isinstance(value, bool):
                raise ConfigError(
                    f"must be true or false, got {value!r}", key=f"envs.{name}.options.{opt}"
                )
        opts.update(options)
    out = {
        "name": name,
        "preset": preset,
        "kwargs": {k: merged[k] for k in sorted(merged)},
        "agent_indication": ind,
        "pad_actions": pads["pad_actions"],
        "pad_observations": pads["pad_observations"],
        "options": {k: opts[k] for k in sorted(opts)},
    }
    if impl != p.backend:
        out["backend"] = impl
    return out


def backend_of(settings: Mapping[str, Any]) -> str:
    """The implementation that ``resolve(...)``'s settings run: their ``backend``, else
    their preset's own."""
    if "backend" in settings:
        return settings["backend"]
    return get(settings["name"]).presets[settings["preset"]].backend


def _check_fast(spec: EnvSpec, name: str, kwargs: Mapping[str, Any]) -> None:
    """The fast backend runs these kwargs, or a ConfigError names the ones it cannot."""
    mod = importlib.import_module(spec.fast_module)
    problems = mod.unsupported({**mod.DEFAULTS, **kwargs})
    if problems:
        detail = "; ".join(f"{k}: {why}" for k, why in sorted(problems.items()))
        raise ConfigError(
            f"the fast {name} does not support {', '.join(sorted(problems))} ({detail}); "
            f"set envs.{name}.backend: pettingzoo to run PettingZoo's own env",
            key=f"envs.{name}.kwargs",
        )


def make_parallel_env(settings: Mapping[str, Any], render_mode: str | None = None):
    """Build the wrapped parallel env described by ``resolve(...)``'s output (with the
    backend :func:`backend_of` names)."""
    from psmarl.envs.wrappers import apply_standard_wrappers

    spec = get(settings["name"])
    kwargs = dict(settings.get("kwargs", {}))
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    env = spec.parallel_env_fn(backend_of(settings))(**kwargs)
    options = settings.get("options") or {}
    if options:
        env = spec.wrap_options(env, options)
    return apply_standard_wrappers(
        env,
        agent_indication=settings.get("agent_indication", "none"),
        pad_observations=bool(settings.get("pad_observations", False)),
        pad_actions=bool(settings.get("pad_actions", False)),
        name=settings["name"],
    )


def agent_ids(settings: Mapping[str, Any]) -> list[str]:
    env = make_parallel_env(settings)
    try:
        return list(env.possible_agents)
    finally:
        env.close()
