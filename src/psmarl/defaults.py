"""The default of every workflow config key that has one fixed value: the one table.

The code takes these defaults from here (:func:`get`, :func:`section`); the JSON schema
(``workflow/schemas/config.schema.yaml``) repeats each as a ``default:`` annotation and
``config/README.md`` in its defaults column, and ``tests/test_defaults.py`` fails when
either disagrees with this table. Snakemake validates with ``set_default=False``: the
workflow's config stays as the user gave it (the config record of the report is exactly
that), and every reader applies these defaults.

Defaults that depend on other keys are not here: ``random_baseline.episodes`` is
``evaluation.episodes``, ``methods.<m>.sharing`` is the top-level ``sharing``, a method's
settings are its own (``psmarl methods``, the method catalogue), an env's are its preset's
(``psmarl envs``).

This module imports nothing of psmarl, so every module can use it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

#: config key -> default, nested as in the config
DEFAULTS: dict[str, Any] = {
    "results_dir": "results",
    "seeds": [0],
    "sharing": ["shared", "independent"],
    "training": {
        "checkpoint_every": 10,
        "runtime": {
            "num_cpus": 1,
            "num_env_runners": "auto",
            "num_envs_per_env_runner": "auto",
            "num_gpus": 0,
        },
    },
    # off unless the config has a wandb section; these fill in what that section leaves out
    "wandb": {"project": "psmarl", "mode": "offline"},
    "evaluation": {
        "episodes": 1000,
        "seed": 1_000_000,
        "workers": 1,
        "envs_per_worker": 8,
        "sampled_actions": False,
    },
    "containers": {
        "rl": "containers/rl.sif",
        "marl": "containers/marl.sif",
        "analysis": "containers/analysis.sif",
    },
    "figures": {
        "formats": ["png", "pdf"],
        "smoothing": 1,
        "band": "ci95",
        "grid_points": 200,
        "paper_x_max_episodes": None,
    },
    "report": {
        "bootstrap_reps": 10000,
        "bootstrap_seed": 0,
        "confidence": 0.95,
    },
    # Figure 1 of the paper: C_env 0.1, epsilon 0.001, I0 0.01, N 3, plus a K_* grid
    "theory": {
        "N": 3,
        "C_env": 0.1,
        "C_star": None,
        "epsilon": 0.001,
        "I0": 0.01,
        "K_min": 0.001,
        "K_max": 1.0,
        "K_num": 31,
        "K_spacing": "log",
        "learning_function": "identity",
        "learning_param": 1.0,
        "max_steps": 10_000_000,
    },
}


def _node(key: str) -> Any:
    node: Any = DEFAULTS
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"config key {key!r} has no default in psmarl.defaults")
        node = node[part]
    return node


def default(key: str) -> Any:
    """The default of a dotted config key (a fresh copy: callers may change it)."""
    return copy.deepcopy(_node(key))


def section(key: str) -> dict[str, Any]:
    """The defaults of a config section (``"figures"``, ``"training.runtime"``, ...)."""
    node = _node(key)
    if not isinstance(node, Mapping):
        raise KeyError(f"config key {key!r} is a setting, not a section")
    return copy.deepcopy(dict(node))


def get(config: Mapping[str, Any] | None, key: str) -> Any:
    """The value of a dotted key in ``config``, or its default when the key is absent
    (a section given as null counts as absent; a setting given as null is null)."""
    node: Any = config or {}
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, Mapping) else None
        if node is None:
            return default(key)
    if isinstance(node, Mapping) and parts[-1] in node:
        return node[parts[-1]]
    return default(key)


def flat(tree: Mapping[str, Any] | None = None, prefix: str = "") -> dict[str, Any]:
    """``{dotted key: default}`` of every setting in ``tree`` (default: the whole table)."""
    out: dict[str, Any] = {}
    for k, v in (DEFAULTS if tree is None else tree).items():
        if isinstance(v, Mapping):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
