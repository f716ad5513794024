"""marl-eval's file (psmarl.exports): structure, values, and what a bad input gets."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from psmarl import results
from psmarl.errors import InputError
from psmarl.exports import check_marl_eval, marl_eval_data, write_marl_eval

JOBS = [
    ("pursuit", "ppo", "shared", 0),
    ("pursuit", "ppo", "shared", 1),
    ("pursuit", "maddpg", "independent", 0),
    ("waterworld", "sac", "independent", 2),
]


def fake_run(root, env, method, sharing, seed, plays=4):
    run = root / results.run_dir(env, method, sharing, seed)
    (run / "eval").mkdir(parents=True)
    results.write_json_atomic(
        run / "train_summary.json", {"env": env, "preset": "paper", "env_steps": 1000 + seed}
    )
    rng = np.random.default_rng(seed)
    pd.DataFrame(
        {
            "episode": range(plays),
            "seed": range(plays),
            "total_reward": rng.normal(size=plays),
            "length": 500,
        }
    ).to_csv(run / "eval" / "episodes.csv", index=False)


def test_every_run_lands_at_its_place_with_its_plays(tmp_path):
    for j in JOBS:
        fake_run(tmp_path, *j)
    out = tmp_path / results.MARL_EVAL_JSON
    assert write_marl_eval(tmp_path, JOBS, out) == 4
    data = json.loads(out.read_text())
    check_marl_eval(data)
    assert set(data) == {"pursuit", "waterworld"}
    assert set(data["pursuit"]["paper"]) == {"ppo_shared", "maddpg_independent"}
    assert set(data["pursuit"]["paper"]["ppo_shared"]) == {"run_0", "run_1"}
    run = data["waterworld"]["paper"]["sac_independent"]["run_2"]
    plays = pd.read_csv(tmp_path / results.eval_episodes_csv("waterworld", "sac", "independent", 2))
    assert run["step_0"]["step_count"] == 1002
    assert run["step_0"]["return"] == pytest.approx(list(plays["total_reward"]))
    assert run["absolute_metrics"]["return"] == run["step_0"]["return"]


def test_a_missing_evaluation_is_named(tmp_path):
    fake_run(tmp_path, *JOBS[0])
    with pytest.raises(
        InputError, match=r"seed1/train_summary.json: missing.*pursuit/ppo/shared/seed1"
    ):
        marl_eval_data(tmp_path, JOBS[:2])


@pytest.mark.parametrize(
    "bad,where",
    [
        ({}, "(top)"),
        ({"pursuit": {"paper": {"ppo_shared": {"seed_0": {}}}}}, "pursuit/paper/ppo_shared"),
        (
            {
                "pursuit": {
                    "paper": {"ppo,shared": {"run_0": {"absolute_metrics": {"return": [1.0]}}}}
                }
            },
            "pursuit/paper",
        ),
        (
            {
                "pursuit": {
                    "paper": {
                        "ppo": {
                            "run_0": {
                                "step_0": {"return": [1.0]},
                                "absolute_metrics": {"return": [1.0]},
                            }
                        }
                    }
                }
            },
            "pursuit/paper/ppo/run_0/step_0",
        ),
        (
            {"pursuit": {"paper": {"ppo": {"run_0": {"step_0": {"step_count": 5}}}}}},
            "pursuit/paper/ppo/run_0",
        ),
    ],
)
def test_the_check_rejects_what_marl_eval_would_not_read(bad, where):
    with pytest.raises(InputError, match=rf"at {re.escape(where)}:"):
        check_marl_eval(bad)
