"""What a trainable method is: :class:`MethodSpec`, the backends that train one, the action
kinds, and the result key an RLlib method's training step logs for psmarl's trainer.

The method modules (``ppo``, ``dqn``, ``benchmarl``, ...) build their specs from this
module only; the catalogue (:mod:`psmarl.methods.catalogue`) lists them and
:mod:`psmarl.methods` registers them, so no method module imports the registry.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
import inspect
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACTION_KINDS = ("discrete", "continuous")
#: what trains a method: RLlib (psmarl.train) or BenchMARL (psmarl.benchmarl_backend.train,
#: the marl extra)
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
    # the typed settings: a frozen dataclass whose fields are the defaults, each with a
    # one-line docstring (``psmarl methods <name>`` shows them); see settings_defaults
    settings: type | None = None
    # where the config's network axis (``network.hidden``, ``network.activation``) goes in
    # this method's settings: axis key -> dotted setting paths; None: the backend's own
    # (NETWORK_PATHS)
    network_paths: Mapping[str, tuple[str, ...]] | None = None
    # synchronous on-policy sampling: RLlib requires ``train_batch_size_per_learner`` to be
    # (within 10%) whole sampling rounds of runners x envs x ``rollout_fragment_length``
    # when that is a number (psmarl.config.check_rounds checks it before any job starts)
    batch_in_rounds: bool = False

    def network_overlay(self, network: Mapping[str, Any] | None) -> dict[str, Any]:
        """The method's settings that the network axis sets (nested like ``defaults``)."""
        paths = self.network_paths or NETWORK_PATHS[self.backend]
        out: dict[str, Any] = {}
        for key, value in (network or {}).items():
            for path in paths.get(key, ()):
                *groups, leaf = path.split(".")
                node = out
                for g in groups:
                    node = node.setdefault(g, {})
                node[leaf] = copy.deepcopy(value)
        return out


#: the network axis (config ``network:``): one MLP shape for every method of both backends,
#: over each method's own defaults and under its own settings (config/README.md)
NETWORK_KEYS = ("hidden", "activation")
NETWORK_ACTIVATIONS = ("relu", "tanh")
NETWORK_PATHS: dict[str, dict[str, tuple[str, ...]]] = {
    # RLlib's DefaultModelConfig: the policy's (and a shared value function's) MLP
    "rllib": {"hidden": ("model.fcnet_hiddens",), "activation": ("model.fcnet_activation",)},
    # psmarl's BenchMARL settings: every MLP of the method (actor, critic, agent network)
    "benchmarl": {"hidden": ("hidden",), "activation": ("activation",)},
}


def copied(value: Any) -> Any:
    """A dataclass field whose default is a fresh copy of ``value`` (a list, a dict, or a
    settings dataclass instance, e.g. a group of an RLlib method's settings)."""
    return field(default_factory=lambda: copy.deepcopy(value))


@dataclass(frozen=True)
class PaperMeasure:
    """How the paper's runs reported the average total reward (old RLlib's
    ``episode_reward_mean``): progress.csv's ``paper_avg_total_reward`` / ``paper_episodes``."""

    window: int = 100
    """episodes averaged (old RLlib's metrics_smoothing_episodes, default 100)"""
    runners: str = "all"
    """whose episodes count: all, or last_third (old Ape-X's least-exploring ceil(N/3) of N
    runners)"""


def settings_defaults(cls: type) -> dict[str, Any]:
    """The defaults mapping of a settings dataclass (nested dataclasses become mappings)."""
    return dataclasses.asdict(cls())


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal on the line after it, as CleanRL writes its
    hyperparameters), over the class and its bases; "" where a field has none."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0]
        assert isinstance(body, ast.ClassDef)
        for stmt, nxt in zip(body.body, [*body.body[1:], None], strict=True):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return {f.name: docs.get(f.name, "") for f in dataclasses.fields(cls)}


def describe_settings(settings: Any, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(key, default, doc) of every field of a settings dataclass (or of an instance of one:
    a nested group's own values), nested dataclasses flattened as ``group.key``."""
    obj = settings() if isinstance(settings, type) else settings
    out: list[tuple[str, Any, str]] = []
    klass: type = type(obj)
    docs = field_docs(klass)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out += describe_settings(value, f"{prefix}{f.name}.")
        else:
            out.append((f"{prefix}{f.name}", value, docs[f.name]))
    return out
