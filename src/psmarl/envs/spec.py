"""What an environment is: :class:`EnvSpec`, its :class:`Preset` s and :class:`EnvOption` s,
and the choices every env offers (agent indication, backends).

The env modules (``sisl``, ``mpe``) build their specs from this module only; the catalogue
(:mod:`psmarl.envs.catalogue`) lists them and :mod:`psmarl.envs` registers them, so no env
module imports the registry (``docs/extending.md``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# How each agent's observation says which agent it is (envs/wrappers.py): one appended
# number (its index i in possible_agents order; i / N; i + 1: the paper's code used i / N
# on pursuit and multiwalker and i + 1 on waterworld), or a one-hot vector.
AGENT_INDICATION = ("none", "scalar", "scalar_over_n", "scalar_plus_one", "onehot")

# Implementations of an env: PettingZoo's module (EnvSpec.module), or psmarl's fast one
# (EnvSpec.fast_module: same keyword arguments, equal steps, tests/test_fast_sisl.py).
BACKENDS = ("fast", "pettingzoo")


@dataclass(frozen=True)
class Preset:
    """A named set of constructor arguments plus wrapper choices."""

    kwargs: Mapping[str, Any]
    agent_indication: str = "none"
    description: str = ""
    # heterogeneous agents (docs/heterogeneous.md): pad every agent's observation / action
    # space to one common space (SuperSuit's pad_observations_v0 / pad_action_space_v0)
    pad_observations: bool = False
    pad_actions: bool = False
    # psmarl's own options for this env (EnvSpec.options names them), applied by wrappers
    # around the raw env: what the paper's env copies did that the library's kwargs cannot
    options: Mapping[str, Any] = field(default_factory=dict)
    # which implementation builds the env (BACKENDS); "pettingzoo" unless the preset says
    backend: str = "pettingzoo"


@dataclass(frozen=True)
class EnvOption:
    """One of psmarl's own env options: its default (= the library's behaviour) and doc."""

    default: Any
    doc: str


@dataclass(frozen=True)
class EnvSpec:
    name: str
    module: str  # importable PettingZoo module exposing parallel_env(**kwargs)
    presets: Mapping[str, Preset]
    description: str = ""
    # paper's random-policy average total reward, for docs and the comparison table
    paper_random_return: float | None = None
    # the preset used when the config names none
    default_preset: str = "paper"
    constructor: Callable[..., Any] | None = field(default=None, compare=False)
    # psmarl's own options (name -> EnvOption) and the function that applies them to the
    # raw parallel env: wrap_options(env, {name: value}) -> env
    options: Mapping[str, EnvOption] = field(default_factory=dict)
    wrap_options: Callable[[Any, Mapping[str, Any]], Any] | None = field(
        default=None, compare=False
    )
    # psmarl's fast implementation (backend "fast"): a module with parallel_env(**kwargs)
    # taking `module`'s arguments, DEFAULTS (those arguments) and unsupported(kwargs)
    # (the arguments it cannot reproduce: {name: why}); None: no fast backend
    fast_module: str | None = None
    # what the methods must respect: why sign-clipping this env's rewards (``clip_rewards:
    # true``, the paper's PPO/A2C/IMPALA setting) leaves nothing to learn; "" where it may
    # be clipped. Validation rejects the combination, naming the key to set.
    no_sign_clipping: str = ""
    # the discrete action that leaves an agent where it is (pursuit's "stay"), played by the
    # idle baseline (psmarl idle-baseline); continuous agents idle with an all-zero action.
    # None: a discrete env without such an action (its idle baseline is an error)
    idle_action: int | None = None

    def backends(self) -> tuple[str, ...]:
        return BACKENDS if self.fast_module else ("pettingzoo",)

    def parallel_env_fn(self, backend: str = "pettingzoo") -> Callable[..., Any]:
        if backend == "fast":
            if not self.fast_module:
                raise ValueError(f"environment {self.name!r} has no fast backend")
            return importlib.import_module(self.fast_module).parallel_env
        if self.constructor is not None:
            return self.constructor
        return importlib.import_module(self.module).parallel_env

    def accepted_kwargs(self, backend: str = "pettingzoo") -> set[str] | None:
        """Keyword arguments the raw environment accepts (None if it takes **kwargs)."""
        if backend == "fast":
            return set(importlib.import_module(self.fast_module).DEFAULTS)
        if self.constructor is not None:
            fn = self.constructor
        else:
            mod = importlib.import_module(self.module)
            fn = getattr(mod, "raw_env", mod.parallel_env)
        names: set[str] = set()
        for cls in [fn] + list(getattr(fn, "__mro__", [])):
            target = cls.__init__ if inspect.isclass(cls) else cls
            try:
                sig = inspect.signature(target)
            except (TypeError, ValueError):
                continue
            for p in sig.parameters.values():
                if p.kind is p.VAR_KEYWORD:
                    continue
                names.add(p.name)
        # raw_env(**kwargs) forwarding to a base env: look at the base class too
        base = _base_env_class(self.module)
        if base is not None:
            names |= set(inspect.signature(base.__init__).parameters) - {"self"}
        names.discard("self")
        names.discard("args")
        names.discard("kwargs")
        return names or None


def _base_env_class(module: str):
    """SISL envs wrap a '*_base' class whose __init__ lists the real keyword arguments."""
    mod = importlib.import_module(module)
    raw = getattr(mod, "raw_env", None)
    if raw is None:
        return None
    src_mod = importlib.import_module(raw.__module__)
    for obj in vars(src_mod).values():
        if inspect.isclass(obj) and obj.__module__.endswith("_base") and hasattr(obj, "__init__"):
            params = inspect.signature(obj.__init__).parameters
            if "max_cycles" in params:
                return obj
    return None
