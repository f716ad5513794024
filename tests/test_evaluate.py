import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from psmarl import envs, results
from psmarl.errors import InputError
from psmarl.evaluate import (
    PolicySpec,
    check_checkpoint,
    evaluate,
    summarize,
    write_evaluation,
)


def test_summarize_matches_student_t():
    x = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    s = summarize(x)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert s["mean"] == pytest.approx(4.0)
    assert s["std"] == pytest.approx(x.std(ddof=1))
    assert (s["ci95_low"], s["ci95_high"]) == pytest.approx((lo, hi))
    assert s["episodes"] == 5


def test_summarize_single_and_constant():
    assert summarize([3.0])["ci95_low"] == summarize([3.0])["ci95_high"] == 3.0
    s = summarize([2.0, 2.0, 2.0])
    assert s["std"] == 0 and s["ci95_low"] == 2.0


def test_summarize_empty_raises():
    with pytest.raises(ValueError):
        summarize([])


def test_random_evaluation_is_reproducible_and_split_independent():
    s = envs.resolve("multiwalker", "paper", {"max_cycles": 40})
    a = evaluate(
        s, PolicySpec("random"), 6, seed=11, workers=1, envs_per_worker=1, log=lambda m: None
    )
    b = evaluate(
        s, PolicySpec("random"), 6, seed=11, workers=1, envs_per_worker=4, log=lambda m: None
    )
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == results.EPISODE_COLUMNS
    assert list(a["seed"]) == list(range(11, 17))
    assert (a["length"] <= 40).all()
    c = evaluate(
        s, PolicySpec("random"), 6, seed=12, workers=1, envs_per_worker=2, log=lambda m: None
    )
    assert not np.allclose(a["total_reward"], c["total_reward"])


def test_random_evaluation_with_two_worker_processes_matches_one():
    s = envs.resolve("multiwalker", "paper", {"max_cycles": 30})
    a = evaluate(
        s, PolicySpec("random"), 4, seed=0, workers=1, envs_per_worker=2, log=lambda m: None
    )
    b = evaluate(
        s, PolicySpec("random"), 4, seed=0, workers=2, envs_per_worker=2, log=lambda m: None
    )
    pd.testing.assert_frame_equal(a, b)


def test_total_reward_is_sum_over_agents():
    s = envs.resolve("pursuit", "paper", {"max_cycles": 25})
    df = evaluate(s, PolicySpec("random"), 1, seed=5, log=lambda m: None)
    env = envs.make_parallel_env(s)
    from psmarl.evaluate import RandomPolicy

    pol = RandomPolicy(env, 0)
    obs, _ = env.reset(seed=5)
    pol.start_episode(0, 5)
    total = 0.0
    while env.agents:
        acts = pol.act("x", [(0, a) for a in env.agents], None)
        obs, rew, *_ = env.step(dict(zip(env.agents, acts)))
        total += sum(rew.values())
    assert df["total_reward"].iloc[0] == pytest.approx(total)


def test_bad_play_counts():
    s = envs.resolve("multiwalker", "paper")
    with pytest.raises(ValueError, match="episodes"):
        evaluate(s, PolicySpec("random"), 0)


def test_missing_checkpoint_names_path(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        check_checkpoint(tmp_path / "nowhere")
    (tmp_path / "ck").mkdir()
    with pytest.raises(InputError, match=results.RUN_META):
        check_checkpoint(tmp_path / "ck")


def test_write_evaluation(tmp_path):
    df = pd.DataFrame(
        {"episode": [0, 1], "seed": [5, 6], "total_reward": [1.0, 3.0], "length": [10, 12]}
    )
    s = write_evaluation(df, tmp_path / "e.csv", tmp_path / "s.json", {"policy": "random"})
    assert s["mean"] == 2.0 and s["seeds"] == [5, 6]
    assert results.read_json(tmp_path / "s.json")["policy"] == "random"
    assert pd.read_csv(tmp_path / "e.csv").shape == (2, 4)
    assert not list(tmp_path.glob(".*tmp"))


def test_a_checkpoint_naming_a_moved_psmarl_module_still_loads():
    """RLlib pickles an RLModule's class by import path; DDPG's moved from
    psmarl.methods.offpolicy to psmarl.methods.ddpg_rllib. An older checkpoint's reference
    resolves while a checkpoint loads, and the old name is importable at no other time."""
    import pickle

    from psmarl.evaluate import MOVED_MODULES, moved_module_names
    from psmarl.methods.ddpg_rllib import DDPGTorchRLModule

    new = pickle.dumps(DDPGTorchRLModule, protocol=0)
    assert b"psmarl.methods.ddpg_rllib" in new
    old = new.replace(b"psmarl.methods.ddpg_rllib", b"psmarl.methods.offpolicy")
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(old)
    with moved_module_names():
        assert pickle.loads(old) is DDPGTorchRLModule
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(old)
    for new_name in MOVED_MODULES.values():
        __import__(new_name)  # every target exists


def _sampler(agents=("a0", "a1")):
    """A CheckpointPolicy's sampling part, without a checkpoint."""
    from psmarl.evaluate import CheckpointPolicy

    pol = object.__new__(CheckpointPolicy)
    pol.deterministic = False
    pol.agent_index = {a: i for i, a in enumerate(agents)}
    pol.seeds, pol.rngs = {}, {}
    return pol


def test_sampled_actions_follow_the_policy_distribution_per_play_and_agent():
    from ray.rllib.models.torch.torch_distributions import (
        TorchCategorical,
        TorchDiagGaussian,
        TorchSquashedGaussian,
    )

    pol = _sampler()
    n = 20000
    for slot in range(n):
        pol.start_episode(slot, seed=slot)
    members = [(slot, "a0") for slot in range(n)]
    # a Gaussian with means (0.5, -2) and standard deviations (2, 0.1)
    inputs = np.tile([0.5, -2.0, np.log(2.0), np.log(0.1)], (n, 1))
    draws = pol._sample("m", TorchDiagGaussian, inputs, members)
    assert draws.shape == (n, 2)
    assert np.allclose(draws.mean(0), [0.5, -2.0], atol=0.05)
    assert np.allclose(draws.std(0), [2.0, 0.1], rtol=0.03)
    # a categorical with probabilities (0.1, 0.2, 0.7)
    logits = np.tile(np.log([0.1, 0.2, 0.7]), (n, 1))
    picks = pol._sample("m", TorchCategorical, logits, members)
    assert np.allclose(np.bincount(picks, minlength=3) / n, [0.1, 0.2, 0.7], atol=0.015)
    # a play's draws depend on its seed and agent only, not on the batch around them
    again = _sampler()
    again.start_episode(7, seed=7)
    one = again._sample("m", TorchDiagGaussian, inputs[:1], [(7, "a0")])
    fresh = _sampler()
    fresh.start_episode(0, seed=7)
    assert np.array_equal(fresh._sample("m", TorchDiagGaussian, inputs[:1], [(0, "a0")]), one)
    assert not np.array_equal(fresh._sample("m", TorchDiagGaussian, inputs[:1], [(0, "a1")]), one)
    with pytest.raises(InputError, match="TorchSquashedGaussian is not one psmarl samples"):
        pol._sample("m", TorchSquashedGaussian, inputs, members)


def test_idle_policy_stays_on_pursuit_and_idles_continuous_agents_with_zeros():
    """The idle baseline: pursuit's idle action is its "stay" (no motion); waterworld's and
    multiwalker's agents get all-zero actions; plays are deterministic and split-free."""
    from psmarl.envs.fast_sisl.pursuit import MOTION
    from psmarl.evaluate import IdlePolicy

    assert (MOTION[envs.get("pursuit").idle_action] == 0).all()
    for name in ("pursuit", "waterworld", "multiwalker"):
        env = envs.make_parallel_env(envs.resolve(name, "paper"))
        pol = IdlePolicy(env, name)
        acts = pol.act("x", [(0, a) for a in env.possible_agents], None)
        if name == "pursuit":
            assert acts == [4] * len(env.possible_agents)
        else:
            assert all(
                np.array_equal(a, np.zeros(env.action_space(ag).shape))
                for a, ag in zip(acts, env.possible_agents)
            )
    s = envs.resolve("multiwalker", "paper", {"max_cycles": 30})
    a = evaluate(s, PolicySpec("idle"), 3, seed=4, workers=1, envs_per_worker=1, log=lambda m: None)
    b = evaluate(s, PolicySpec("idle"), 3, seed=4, workers=1, envs_per_worker=3, log=lambda m: None)
    pd.testing.assert_frame_equal(a, b)


def test_idle_baseline_of_a_discrete_env_without_an_idle_action_names_it():
    s = envs.resolve("speaker_listener")
    with pytest.raises(InputError, match="'speaker_listener' names no idle action"):
        evaluate(s, PolicySpec("idle"), 1, log=lambda m: None)


def test_idle_baseline_command_writes_an_idle_summary(tmp_path):
    from psmarl.cli import main

    spec = {
        "env": envs.resolve("pursuit", "paper", {"max_cycles": 20}),
        "episodes": 2,
        "seed": 7,
    }
    main(["idle-baseline", "--spec", json.dumps(spec), "--out-dir", str(tmp_path)])
    summary = results.read_json(tmp_path / "summary.json")
    assert summary["policy"] == "idle" and summary["deterministic"] is True
    assert summary["episodes"] == 2 and summary["base_seed"] == 7
    assert list(pd.read_csv(tmp_path / "episodes.csv")["seed"]) == [7, 8]
