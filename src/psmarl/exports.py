"""Results of a study in other tools' formats.

marl-eval (InstaDeep; the evaluation protocol of Gorsane et al., 2022, on rliable) reads one
JSON file of evaluation returns, nested as documented in its README::

    {environment: {task: {algorithm: {run: {
        "step_<i>": {"step_count": <env steps>, "<metric>": [<one value per episode>]},
        "absolute_metrics": {"<metric>": [<one value per episode>]}}}}}}

psmarl writes (:func:`marl_eval_data`):

- environment: the env (``pursuit``, ``waterworld``, ``multiwalker``, ...);
- task: its preset (``paper``, ``pettingzoo``);
- algorithm: ``<method>_<sharing>`` (e.g. ``ppo_shared``, ``maddpg_independent``);
- run: ``run_<seed>``;
- one step, ``step_0``: the held-out evaluation of the final checkpoint at the run's env
  steps, metric ``return`` = the total reward (sum over agents) of each play;
- ``absolute_metrics``: the same plays. marl-eval's absolute metric is the best policy of a
  run evaluated with 10x the episodes; psmarl evaluates the final policy only, with the
  workflow's ``evaluation.episodes`` plays (1000 in ``config/paper.yaml``).

marl-eval itself (``id-marl-eval`` 0.0.4) pins pandas 1.4.4, which cannot be installed
beside psmarl's pinned stack, so the export is checked against the documented structure
(:data:`MARL_EVAL_SCHEMA`) instead of marl-eval's loader.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from psmarl import results
from psmarl.errors import InputError

METRIC = "return"

#: marl-eval's documented input structure, as a JSON schema (its README, "Data Structure
#: for Raw Experiment data"): names at the four levels, then steps with an integer
#: step_count and lists of numbers, and absolute_metrics with lists of numbers
_NUMBERS = {"type": "array", "items": {"type": "number"}, "minItems": 1}
MARL_EVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {  # environment
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {  # task
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^[^,]+$"},  # marl-eval rejects commas in names
            "additionalProperties": {  # algorithm
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": "^run_[0-9]+$"},
                "additionalProperties": {  # run
                    "type": "object",
                    "required": ["absolute_metrics"],
                    "propertyNames": {"pattern": "^(step_[0-9]+|absolute_metrics)$"},
                    "properties": {
                        "absolute_metrics": {
                            "type": "object",
                            "minProperties": 1,
                            "additionalProperties": _NUMBERS,
                        }
                    },
                    "patternProperties": {
                        "^step_[0-9]+$": {
                            "type": "object",
                            "required": ["step_count"],
                            "properties": {"step_count": {"type": "integer", "minimum": 0}},
                            "additionalProperties": _NUMBERS,
                        }
                    },
                },
            },
        },
    },
}


def marl_eval_data(root: str | Path, jobs: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """The evaluations of ``jobs`` ((env, method, sharing, seed) under ``root``) in
    marl-eval's structure."""
    root = Path(root)
    data: dict[str, Any] = {}
    for env, method, sharing, seed in jobs:
        summary_path = root / results.train_summary_json(env, method, sharing, seed)
        episodes_path = root / results.eval_episodes_csv(env, method, sharing, seed)
        for p in (summary_path, episodes_path):
            if not p.exists():
                raise InputError(
                    f"{p}: missing; run the workflow for {env}/{method}/{sharing}/seed{seed} first"
                )
        summary = results.read_json(summary_path)
        plays = pd.read_csv(episodes_path)
        if "total_reward" not in plays or plays.empty:
            raise InputError(
                f"{episodes_path}: no plays (column total_reward); redo the "
                f"evaluation of {env}/{method}/{sharing}/seed{seed}"
            )
        returns = [float(x) for x in plays["total_reward"]]
        task = str(summary.get("preset") or "default")
        runs = data.setdefault(env, {}).setdefault(task, {}).setdefault(f"{method}_{sharing}", {})
        runs[f"run_{int(seed)}"] = {
            "step_0": {"step_count": int(summary["env_steps"]), METRIC: returns},
            "absolute_metrics": {METRIC: returns},
        }
    return data


def check_marl_eval(data: Any) -> None:
    """Raise InputError unless ``data`` has marl-eval's documented structure."""
    import jsonschema

    try:
        jsonschema.validate(data, MARL_EVAL_SCHEMA)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        raise InputError(f"not marl-eval's structure at {where}: {e.message}") from None


def write_marl_eval(root: str | Path, jobs: Sequence[Sequence[Any]], out: str | Path) -> int:
    """Write the marl-eval file; returns the number of runs in it."""
    data = marl_eval_data(root, jobs)
    check_marl_eval(data)
    results.write_text_atomic(out, json.dumps(data, indent=1) + "\n")
    return len(jobs)
