"""Updates per env step held whatever the process layout (training_intensity), target updates
counted in trained samples, and the paper's measure (old RLlib's window, Ape-X's reporting
runners)."""

import pandas as pd
import pytest
from conftest import TINY, ensure_ray

from psmarl import config as cfg
from psmarl import methods
from psmarl.errors import ConfigError
from psmarl.methods import intensity
from psmarl.methods.apex import reporting_runner
from psmarl.run_loop import old_rllib_mean, summarize_progress


# ---------------------------------------------------------------- the arithmetic
@pytest.mark.parametrize("rounds", [[160] * 40, [320] * 20, [1280] * 5, [37, 500, 2863, 3000]])
def test_updates_due_hold_the_ratio_whatever_the_rounds(rounds):
    """The same env steps split into different sampling rounds: the trained samples stay
    within one batch of intensity x env steps after every round."""
    trained, sampled = 0, 0
    for r in rounds:
        sampled += r
        trained += 32 * intensity.updates_due(0.5, sampled, trained, 32)
        assert 0.5 * sampled - 32 < trained <= 0.5 * sampled
    assert sampled == 6400 and trained == 3200


def test_updates_due_can_be_many_per_round_or_none():
    assert intensity.updates_due(10.89, 1280, 0, 512) == 27  # 13939 / 512
    assert intensity.updates_due(0.128, 1000, 0, 512) == 0
    assert intensity.updates_due(0.128, 4000, 0, 512) == 1
    assert intensity.updates_due(1.0, 0, 0, 512) == 0


def test_intensity_by_sharing_mode_and_its_checks():
    value = {"shared": 10.89, "independent": 2.96}
    assert intensity.for_sharing(value, shared=True) == 10.89
    assert intensity.for_sharing(value, shared=False) == 2.96
    assert intensity.for_sharing(0.4, shared=True) == 0.4
    assert intensity.for_sharing(None, shared=True) is None
    for bad, key in (
        (0, "x"),
        (-1.0, "x"),
        (True, "x"),
        ("fast", "x"),
        ({"both": 1.0}, "x"),
        ({"shared": 0}, "x.shared"),
    ):
        with pytest.raises(ConfigError) as e:
            intensity.check(bad, "x")
        assert e.value.key == key


@pytest.mark.parametrize(
    "settings, key",
    [
        ({"training": {"training_intensity": -2}}, "methods.apex_dqn.training.training_intensity"),
        (
            {"training": {"training_intensity": {"shared": 1, "sharing": 2}}},
            "methods.apex_dqn.training.training_intensity",
        ),
        (
            {"training": {"target_network_update_unit": "steps"}},
            "methods.apex_dqn.training.target_network_update_unit",
        ),
        ({"paper_measure": {"window": 0}}, "methods.apex_dqn.paper_measure.window"),
        ({"paper_measure": {"runners": "best"}}, "methods.apex_dqn.paper_measure.runners"),
        ({"paper_measure": {"episodes": 5}}, "methods.apex_dqn.paper_measure"),
    ],
)
def test_bad_settings_are_named(settings, key):
    with pytest.raises(ConfigError) as e:
        methods.check_settings("apex_dqn", settings, "methods.apex_dqn")
    assert e.value.key == key


def test_replay_methods_default_to_the_paper_logs_ratios():
    d = {
        n: methods.get(n).defaults
        for n in ("dqn", "rainbow", "apex_dqn", "sac", "ddpg", "td3", "apex_ddpg")
    }
    for n in ("dqn", "sac", "ddpg", "td3"):  # 512 per round of 8 x 8 x 20 env steps
        assert d[n]["training"]["training_intensity"] == 0.4
    assert d["rainbow"]["training"]["training_intensity"] == 0.128  # 512 / (8 x 500)
    for n in ("apex_dqn", "apex_ddpg"):
        assert d[n]["training"]["target_network_update_unit"] == "trained"
        assert d[n]["paper_measure"]["runners"] == "last_third"
        assert set(d[n]["training"]["training_intensity"]) == {"shared", "independent"}
    assert d["sac"]["paper_measure"]["window"] == 5


# ---------------------------------------------------------------- the paper's measure
def test_apex_reports_the_last_third_of_its_runners():
    """RLlib 0.9: remote_workers()[-len(remote_workers()) // 3:]."""
    for n in range(1, 13):
        workers = list(range(1, n + 1))
        assert [i for i in workers if reporting_runner(i, n)] == workers[-n // 3 :]
    assert reporting_runner(0, 0)  # no remote runner: the local one samples
    assert not reporting_runner(0, 8)


def test_old_rllib_mean_tops_up_to_the_window_only_when_fewer_episodes_ended():
    hist = [1.0, 2.0, 3.0, 4.0]
    assert old_rllib_mean(hist, [10.0], 3) == pytest.approx((3 + 4 + 10) / 3)
    assert old_rllib_mean(hist, [10.0, 20.0, 30.0, 40.0], 3) == 25.0  # all of this iteration
    assert old_rllib_mean([], [], 5) != old_rllib_mean([], [], 5)  # NaN
    assert old_rllib_mean(hist, [], 2) == 3.5


def test_summary_has_both_measures_and_falls_back_without_paper_columns():
    df = pd.DataFrame(
        {
            "episodes": [10, 20, 30],
            "avg_total_reward": [1.0, 5.0, 2.0],
            "paper_episodes": [4, 8, 12],
            "paper_avg_total_reward": [0.5, 3.0, 9.0],
        }
    )
    s = summarize_progress(df)
    assert (s["best_avg_total_reward"], s["episodes_at_best"]) == (5.0, 20)
    assert (s["paper_best_avg_total_reward"], s["paper_episodes_at_best"]) == (9.0, 12)
    s = summarize_progress(df[["episodes", "avg_total_reward"]])
    assert (s["paper_best_avg_total_reward"], s["paper_episodes_at_best"]) == (5.0, 20)


# ---------------------------------------------------------------- runs
def _spec(tmp_intensity=0.5, budget=2000):
    """DQN on the padded speaker_listener (cheap MPE episodes of 25 steps), tiny net."""
    c = cfg.load(TINY)
    c["methods"] = {
        "dqn": {
            "training": {
                "train_batch_size_per_learner": 32,
                "training_intensity": tmp_intensity,
                "num_steps_sampled_before_learning_starts": 200,
                "min_sample_timesteps_per_iteration": 600,
                "replay_buffer_config": {"type": "EpisodeReplayBuffer", "capacity": 5000},
            },
            "model": {"fcnet_hiddens": [16], "head_fcnet_hiddens": [16]},
        }
    }
    c["training"]["budget"] = {"env_steps": budget}
    c["training"]["runtime"] = {
        "num_cpus": 1,
        "num_env_runners": "auto",
        "num_envs_per_env_runner": 8,
    }
    return cfg.train_spec(c, "speaker_listener", "dqn", "shared", 0)


@pytest.mark.slow
def test_same_trained_samples_per_env_step_on_one_and_two_cores(tmp_path):
    """One config, run with 1 core (sampling in-process, 160-step rounds) and with 2 cores
    (2 runner processes, 320-step rounds): the same trained samples per env step within 5%
    (RLlib's one update per round would give 32/160 and 32/320)."""
    from psmarl import train

    ensure_ray()
    spec = _spec()
    ratios = {}
    for cores in (1, 2):
        run = tmp_path / f"cores{cores}"
        summary = train.train(spec, run, log=lambda m: None, cores=cores)
        assert summary["runtime"]["num_env_runners"] == (0 if cores == 1 else 2)
        prog = pd.read_csv(run / "progress.csv")
        assert prog["samples_trained"].is_monotonic_increasing
        since_start = summary["env_steps"] - 200
        ratios[cores] = prog["samples_trained"].iloc[-1] / since_start
    print(f"trained samples per env step after learning started, by cores: {ratios}")
    assert ratios[1] == pytest.approx(0.5, rel=0.05)
    assert ratios[2] == pytest.approx(ratios[1], rel=0.05), ratios


@pytest.mark.slow
def test_target_updates_counted_in_trained_samples(tmp_path):
    """Ape-X's clock: with 4x as many trained samples as env steps, a target update every
    1000 trained samples happens about every 250 env steps, not every 1000."""
    from psmarl import train

    ensure_ray()
    spec = _spec(tmp_intensity=4.0, budget=1400)
    ms = spec["method_settings"]["training"]
    ms.update(target_network_update_freq=1000, target_network_update_unit="trained")
    config, _ = train.build_algorithm_config(spec, cores=1)
    algo = config.build_algo()
    try:
        while algo._psmarl_sampled < 1400:
            algo.train()
        learner = algo.learner_group._learner
        trained, sampled = algo._psmarl_trained, algo._psmarl_sampled
        assert trained >= 4.0 * (sampled - 200) - 32
        # the last target update happened at a trained-samples clock reading: within one
        # period of the samples trained so far, and beyond any env-step count of the run
        last = learner.last_update_ts_by_mid["shared"]
        assert trained - 1000 - 32 <= last <= trained
        assert last > sampled
        state = algo.get_state(components=[], not_components=None)
        assert state["psmarl_replay_loop"] == {"sampled": algo._psmarl_sampled, "trained": trained}
    finally:
        algo.stop()


@pytest.mark.slow
def test_apex_logs_its_least_exploring_third_beside_every_runner(tmp_path):
    """Ape-X DQN with 3 runners: the paper's measure counts the episodes of runner 3 only
    (the lowest epsilon), about a third of all; psmarl's counts all of them."""
    from psmarl import train

    ensure_ray()
    c = cfg.load(TINY)
    c["methods"] = {
        "apex_dqn": {
            "training": {
                "train_batch_size_per_learner": 32,
                "training_intensity": 0.2,
                "num_steps_sampled_before_learning_starts": 100,
                "min_sample_timesteps_per_iteration": 300,
            },
            "model": {"fcnet_hiddens": [16], "head_fcnet_hiddens": [16]},
        }
    }
    c["training"]["budget"] = {"env_steps": 1500}
    c["training"]["runtime"] = {"num_cpus": 1, "num_env_runners": 3, "num_envs_per_env_runner": 2}
    spec = cfg.train_spec(c, "speaker_listener", "apex_dqn", "shared", 0)
    train.train(spec, tmp_path, log=lambda m: None)
    prog = pd.read_csv(tmp_path / "progress.csv")
    last = prog.iloc[-1]
    assert 0 < last["paper_episodes"] < last["episodes"]
    assert last["paper_episodes"] == pytest.approx(last["episodes"] / 3, rel=0.35)
    assert prog["paper_avg_total_reward"].notna().any()
    assert (prog["samples_trained"] > 0).any()


@pytest.mark.slow
def test_the_held_ratio_survives_a_checkpoint(tmp_path):
    """A resumed run continues the same env-step and trained-sample counts (no burst of
    updates, no pause of learning_starts)."""
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "tests"))
    from test_methods_dqn import _tiny

    ensure_ray()
    algo = _tiny("dqn").build_algo()
    for _ in range(3):
        algo.train()
    counts = (algo._psmarl_sampled, algo._psmarl_trained)
    algo.save_to_path(str(tmp_path))
    algo.stop()
    again = _tiny("dqn").build_algo()
    try:
        again.restore_from_path(str(tmp_path))
        assert (again._psmarl_sampled, again._psmarl_trained) == counts
        assert counts[1] == pytest.approx(6.4 * (counts[0] - 200), abs=64)
    finally:
        again.stop()
