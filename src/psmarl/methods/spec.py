"""What a trainable method is: :class:`MethodSpec`, the backends that train one, the action
kinds, and the result key an RLlib method's training step logs for psmarl's trainer.

The method modules (``ppo``, ``dqn``, ``benchmarl``, ...) build their specs from this
module only; the catalogue (:mod:`psmarl.methods.catalogue`) lists them and
:mod:`psmarl.methods` registers them, so no method module imports the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACTION_KINDS = ("discrete", "continuous")
#: what trains a method: RLlib (psmarl.train) or BenchMARL (psmarl.marl.train, the marl extra)
BACKENDS = ("rllib", "benchmarl")
#: samples trained in an iteration, in an RLlib result (psmarl.methods.replay_step logs it,
#: psmarl.train reads it)
SAMPLES_TRAINED_KEY = "psmarl_samples_trained"


@dataclass(frozen=True)
class MethodSpec:
    name: str
    family: str
    # the action kinds it trains on (through an action adapter where the backend needs one)
    action_kinds: frozenset[str]
    # rllib: returns a fresh AlgorithmConfig of the right class (imports RLlib lazily)
    base_config: Callable[[], Any] | None = None
    # psmarl's defaults for the method; rllib:
    # {"training": {...}, "model": {...}, "env_runners": {...}, ...}; benchmarl: flat
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # optional hook: (algo_config, method_settings, env_settings) -> algo_config
    customize: Callable[[Any, Mapping[str, Any], Mapping[str, Any]], Any] | None = None
    description: str = ""
    # inclusive bounds of settings, "group.key" -> (low, high); None = unbounded that side
    limits: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    # what trains it (one of BACKENDS)
    backend: str = "rllib"
