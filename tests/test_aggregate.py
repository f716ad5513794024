"""Aggregation and statistics over seeds, on synthetic runs whose statistics are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from rliable import metrics as rl_metrics

from psmarl import aggregate as agg
from psmarl import results, stats
from psmarl.errors import ConfigError, InputError

FAST = {"bootstrap_reps": 2000, "bootstrap_seed": 0, "confidence": 0.95}


def make_run(root, env, method, sharing, seed, curve, eval_mean, preset="paper"):
    """A finished run: progress.csv with ``curve`` (avg_total_reward per iteration, 10
    episodes per iteration), train_summary.json and eval/summary.json."""
    n = len(curve)
    prog = pd.DataFrame(
        {
            "iteration": np.arange(1, n + 1),
            "env_steps": 1000 * np.arange(1, n + 1),
            "episodes": 10 * np.arange(1, n + 1),
            "wall_seconds": np.arange(1, n + 1),
            "avg_total_reward": curve,
        }
    )
    results.write_csv_atomic(root / results.progress_csv(env, method, sharing, seed), prog)
    results.write_json_atomic(
        root / results.train_summary_json(env, method, sharing, seed),
        {
            "preset": preset,
            "iterations": n,
            "env_steps": 1000 * n,
            "episodes": 10 * n,
            "wall_seconds": n,
        },
    )
    results.write_json_atomic(
        root / results.eval_summary_json(env, method, sharing, seed),
        {
            "mean": eval_mean,
            "std": 1.0,
            "ci95_low": eval_mean - 1,
            "ci95_high": eval_mean + 1,
            "episodes": 20,
        },
    )


def make_random(root, env, mean):
    results.write_json_atomic(
        root / results.random_summary_json(env),
        {"mean": mean, "std": 1.0, "ci95_low": mean - 1, "ci95_high": mean + 1, "episodes": 100},
    )


def make_study(
    root,
    envs=("pursuit",),
    methods=("ppo",),
    seeds=(0, 1, 2, 3, 4),
    shared=lambda env, m, s: 10.0 + s,
    independent=lambda env, m, s: 5.0 + s,
):
    """Every (env, method, sharing, seed) with final eval = the given function and a curve
    that rises to that value (so the best training average equals it too)."""
    jobs = []
    for env in envs:
        make_random(root, env, -1.0)
        for m in methods:
            for sharing, f in (("shared", shared), ("independent", independent)):
                for s in seeds:
                    v = float(f(env, m, s))
                    make_run(root, env, m, sharing, s, [v - 3, v - 1, v, v - 0.5], v)
                    jobs.append((env, m, sharing, s))
    return jobs


def run_statistics(root, jobs, envs=("pursuit",), spec=None):
    agg.aggregate(root, jobs, list(envs), log=lambda m: None)
    return agg.statistics(root, {"stats": spec or FAST, "envs": {}}, log=lambda m: None)


# ---------------------------------------------------------------- estimators
def test_iqm_is_rliables_and_trims_the_outer_quartiles():
    x = [1.0, 2.0, 3.0, 4.0, 100.0, -50.0, 2.5, 3.5]
    assert stats.iqm(x) == pytest.approx(rl_metrics.aggregate_iqm(np.array(x)[:, None]))
    assert stats.iqm([1, 2, 3, 4]) == pytest.approx(2.5)
    # the batched version used by the bootstrap is the same estimator
    assert stats._iqm_batched(np.array([x, x]))[1] == pytest.approx(stats.iqm(x))


def test_identical_seeds_give_a_zero_width_ci():
    point, lo, hi = stats.iqm_interval([7.0] * 5, FAST)
    assert point == lo == hi == 7.0


def test_one_seed_has_no_ci():
    point, lo, hi = stats.iqm_interval([3.0], FAST)
    assert point == 3.0 and math.isnan(lo) and math.isnan(hi)


def test_ci_contains_the_iqm_and_shrinks_with_more_seeds():
    rng = np.random.default_rng(1)
    small = rng.normal(0, 1, 5)
    big = rng.normal(0, 1, 200)
    p, lo, hi = stats.iqm_interval(small, FAST)
    assert lo <= p <= hi and hi > lo
    p2, lo2, hi2 = stats.iqm_interval(big, FAST)
    assert hi2 - lo2 < hi - lo
    assert lo2 < 0 < hi2  # true IQM of N(0, 1) is 0


def test_bootstrap_is_reproducible_with_its_seed():
    x = [1.0, 5.0, 2.0, 8.0, 3.0]
    assert stats.iqm_interval(x, FAST) == stats.iqm_interval(x, FAST)
    other = dict(FAST, bootstrap_seed=7)
    assert stats.iqm_interval(x, other)[0] == stats.iqm_interval(x, FAST)[0]


def test_a_known_shift_gives_that_difference():
    x = np.array([3.0, 1.0, 4.0, 1.5, 5.0, 9.0])
    d, lo, hi = stats.difference_interval(x + 2.5, x, FAST)
    assert d == pytest.approx(2.5)
    assert lo <= 2.5 <= hi


def test_probability_of_improvement_one_zero_and_half():
    assert stats.improvement_interval([([5, 6, 7], [1, 2, 3])], FAST) == (1.0, 1.0, 1.0)
    assert stats.improvement_interval([([1, 2, 3], [5, 6, 7])], FAST) == (0.0, 0.0, 0.0)
    p, lo, hi = stats.improvement_interval([([1, 2, 3], [1, 2, 3])], FAST)
    assert p == 0.5 and lo < 0.5 < hi
    # averaged over tasks (rliable): 1 on one env, 0 on the other
    assert stats.improvement_interval([([5, 6], [1, 2]), ([0, 1], [2, 3])], FAST)[0] == 0.5
    # ties count one half: P = (1 + 1 + 0.5 + 1) / 4 on one pair each
    x, y = np.array([2.0, 3.0]), np.array([1.0, 2.0])
    assert stats.probability_of_improvement([(x, y)]) == pytest.approx(
        rl_metrics.probability_of_improvement(x[:, None], y[:, None])
    )
    assert stats.probability_of_improvement([(x, y)]) == pytest.approx(3.5 / 4)


@pytest.mark.parametrize(
    "key,value", [("bootstrap_reps", 10), ("bootstrap_seed", -1), ("confidence", 1.5)]
)
def test_bad_bootstrap_settings_name_the_key(key, value):
    with pytest.raises(ConfigError, match=f"report.{key}"):
        stats.check_spec({key: value})


# ---------------------------------------------------------------- tables from runs
def test_statistics_tables_on_a_known_study(tmp_path):
    jobs = make_study(tmp_path, envs=("pursuit", "waterworld"), methods=("ppo", "dqn"))
    out = run_statistics(tmp_path, jobs, envs=("pursuit", "waterworld"))
    st = out[agg.STATISTICS_TABLE]
    assert len(st) == 2 * 2 * 2 * 2  # env x method x sharing x measure
    r = st[
        (st["env"] == "pursuit")
        & (st["method"] == "ppo")
        & (st["sharing"] == "shared")
        & (st["measure"] == "eval_return")
    ].iloc[0]
    # seeds 0..4 -> 10..14: IQM of 5 values trims 1.25 at each end
    assert r["iqm"] == pytest.approx(rl_metrics.aggregate_iqm(np.arange(10.0, 15.0)[:, None]))
    assert r["n_seeds"] == 5 and r["seeds"] == "0 1 2 3 4"
    assert r["ci_low"] <= r["iqm"] <= r["ci_high"]
    assert r["mean"] == pytest.approx(12.0) and r["min"] == 10 and r["max"] == 14
    d = out[agg.DIFFERENCES_TABLE]
    assert len(d) == 2 * 2 * 2
    assert np.allclose(d["difference"], 5.0)  # shared = independent + 5 on every seed
    assert (d["difference_ci_low"] <= 5.0).all() and (d["difference_ci_high"] >= 5.0).all()
    # every shared seed (10..14) beats every independent one (5..9)
    assert (d["prob_improvement"] == 1.0).all()
    assert (d["prob_improvement_ci_low"] == 1.0).all()
    poi = out[agg.IMPROVEMENT_TABLE]
    assert set(poi["method"]) == {"ppo", "dqn"} and (poi["n_envs"] == 2).all()
    assert (poi["prob_improvement"] == 1.0).all()
    for rel in (
        agg.STATISTICS_TABLE,
        agg.DIFFERENCES_TABLE,
        agg.IMPROVEMENT_TABLE,
        agg.PAPER_TABLE,
    ):
        assert (tmp_path / rel).exists()


def test_best_training_average_is_the_curve_maximum(tmp_path):
    make_random(tmp_path, "pursuit", 0.0)
    jobs = []
    for s, peak in enumerate([3.0, 8.0, 5.0]):
        for sharing in ("shared", "independent"):
            make_run(tmp_path, "pursuit", "ppo", sharing, s, [0.0, peak, 1.0], eval_mean=1.0)
            jobs.append(("pursuit", "ppo", sharing, s))
    st = run_statistics(tmp_path, jobs)[agg.STATISTICS_TABLE]
    r = st[(st["measure"] == "best_training_average") & (st["sharing"] == "shared")].iloc[0]
    assert r["iqm"] == pytest.approx(rl_metrics.aggregate_iqm(np.array([[3.0], [8.0], [5.0]])))
    assert r["max"] == 8.0
    e = st[(st["measure"] == "eval_return") & (st["sharing"] == "shared")].iloc[0]
    assert e["iqm"] == e["ci_low"] == e["ci_high"] == 1.0  # identical seeds


def test_missing_run_is_named(tmp_path):
    jobs = make_study(tmp_path, seeds=(0, 1, 2))
    (tmp_path / results.eval_summary_json("pursuit", "ppo", "independent", 1)).unlink()
    with pytest.raises(InputError) as e:
        agg.aggregate(tmp_path, jobs, ["pursuit"], log=lambda m: None)
    msg = str(e.value)
    assert "pursuit/ppo/independent/seed1" in msg and "eval/summary.json" in msg
    assert "1 of 6 run(s)" in msg
    assert not (tmp_path / results.SUMMARY_TABLE).exists()


def test_allow_missing_lists_and_leaves_out_the_missing_runs(tmp_path):
    jobs = make_study(tmp_path, seeds=(0, 1, 2))
    jobs.append(("pursuit", "ppo", "shared", 9))  # never ran
    logs = []
    summary = agg.aggregate(tmp_path, jobs, ["pursuit"], log=logs.append, allow_missing=True)
    assert len(summary) == 6
    assert any("pursuit/ppo/shared/seed9" in m for m in logs)
    gone = pd.read_csv(tmp_path / agg.MISSING_TABLE)
    assert gone[["env", "method", "sharing", "seed"]].values.tolist() == [
        ["pursuit", "ppo", "shared", 9]
    ]


def test_empty_inputs_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no runs to aggregate"):
        agg.aggregate(tmp_path, [], ["pursuit"], log=lambda m: None)
    with pytest.raises(InputError, match="run the aggregate stage first"):
        agg.statistics(tmp_path, None, log=lambda m: None)
    (tmp_path / "tables").mkdir()
    pd.DataFrame(columns=results.SUMMARY_COLUMNS).to_csv(
        tmp_path / results.SUMMARY_TABLE, index=False
    )
    with pytest.raises(InputError, match="has no runs"):
        agg.statistics(tmp_path, None, log=lambda m: None)


def test_a_run_without_a_finished_episode_is_named(tmp_path):
    jobs = make_study(tmp_path, seeds=(0, 1))
    make_run(tmp_path, "pursuit", "ppo", "shared", 1, [float("nan")] * 3, eval_mean=2.0)
    agg.aggregate(tmp_path, jobs, ["pursuit"], log=lambda m: None)
    with pytest.raises(InputError, match="pursuit/ppo/shared/seed1"):
        agg.statistics(tmp_path, {"stats": FAST}, log=lambda m: None)


# ---------------------------------------------------------------- the paper comparison
def test_paper_reference_numbers_all_have_a_source():
    ref = agg.paper_reference()
    assert ref["source"].notna().all() and set(ref["source_type"]) == {"paper", "repository"}
    assert set(ref["env"]) == set(agg.PAPER_ENVS)
    one = ref[
        (ref["env"] == "pursuit") & (ref["method"] == "apex_dqn") & (ref["sharing"] == "shared")
    ].set_index("source_type")
    assert one.loc["paper", "value"] == 621 and one.loc["repository", "value"] == 621.19
    assert one.loc["repository", "episodes"] == 24096
    assert not ref.duplicated(["env", "method", "sharing", "source_type"]).any()


def test_paper_comparison_rows_and_preset_match(tmp_path):
    jobs = make_study(tmp_path, envs=("multiwalker", "pursuit"), methods=("ppo",), seeds=(0, 1))
    agg.aggregate(tmp_path, jobs, ["multiwalker", "pursuit"], log=lambda m: None)
    spec = {
        "stats": FAST,
        "envs": {
            "multiwalker": {"preset": "paper", "changed": []},
            "pursuit": {"preset": "paper", "changed": ["max_cycles"]},
        },
    }
    pc = agg.statistics(tmp_path, spec, log=lambda m: None)[agg.PAPER_TABLE]
    assert set(pc["env"]) == {"multiwalker", "pursuit"}  # no row of an env not run
    mw = pc[(pc["env"] == "multiwalker") & (pc["method"] == "ppo")].set_index("sharing")
    assert mw.loc["shared", "paper_value"] == 41 and mw.loc["shared", "paper_episodes"] == 9200
    assert mw.loc["shared", "repo_value"] == 41.03
    assert mw.loc["independent", "paper_value"] == 38
    assert mw.loc["shared", "ours_max_avg_total_reward_iqm"] == pytest.approx(10.5)
    assert mw.loc["shared", "ours_max_avg_total_reward_best_seed"] == 11
    assert mw.loc["shared", "preset_matches_paper"] == "yes"
    p = pc[pc["env"] == "pursuit"]
    assert (p["preset_matches_paper"] == "no").all()
    # methods the paper reports and we did not run are rows with our cells empty
    ap = p[(p["method"] == "apex_dqn") & (p["sharing"] == "independent")].iloc[0]
    assert ap["paper_value"] == 538 and ap["repo_value"] == 772.25
    assert pd.isna(ap["ours_max_avg_total_reward_iqm"])
    rnd = p[p["method"] == "random"].iloc[0]
    assert rnd["paper_value"] == 31.04 and rnd["ours_eval_iqm"] == -1.0
    # MADDPG/QMIX rows come without a sharing mode until runs of them exist
    assert set(p[p["method"].isin(["maddpg", "qmix"])]["sharing"]) == {""}


def test_paper_comparison_matches_baselines_in_any_sharing_mode(tmp_path):
    jobs = make_study(tmp_path, envs=("waterworld",), methods=("apex_ddpg",), seeds=(0,))
    make_run(tmp_path, "waterworld", "qmix", "shared", 0, [1.0, 2.0], 2.0)
    jobs.append(("waterworld", "qmix", "shared", 0))
    agg.aggregate(tmp_path, jobs, ["waterworld"], log=lambda m: None)
    pc = agg.statistics(tmp_path, {"stats": FAST}, log=lambda m: None)[agg.PAPER_TABLE]
    q = pc[pc["method"] == "qmix"]
    assert len(q) == 1 and q.iloc[0]["sharing"] == "shared"
    assert q.iloc[0]["paper_value"] == 8.09 and q.iloc[0]["ours_max_avg_total_reward_iqm"] == 2.0
    assert pd.isna(q.iloc[0]["ours_max_avg_total_reward_ci_low"])  # one seed: no CI


def test_report_spec_from_config():
    cfg = {
        "envs": {"pursuit": {"preset": "paper", "kwargs": {"max_cycles": 50}}, "waterworld": None},
        "report": {"bootstrap_reps": 500},
    }
    s = agg.report_spec(cfg)
    assert s["stats"]["bootstrap_reps"] == 500 and s["stats"]["confidence"] == 0.95
    assert s["envs"]["pursuit"]["changed"] == ["max_cycles"]
    assert s["envs"]["waterworld"] == {"preset": None, "changed": []}


def test_cli_takes_runs_from_a_config_and_names_missing_runs(tmp_path, capsys):
    import yaml

    from psmarl.cli import main

    make_study(tmp_path, seeds=(0, 1))
    cfg = {
        "seeds": [0, 1, 2],
        "sharing": ["shared", "independent"],
        "envs": {"pursuit": {"preset": "paper", "kwargs": {"max_cycles": 50}}},
        "methods": {"ppo": {}},
        "training": {"budget": {"iterations": 1}},
        "report": {"bootstrap_reps": 200},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    args = ["aggregate", "--root", str(tmp_path), "--configfile", str(tmp_path / "c.yaml")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "pursuit/ppo/shared/seed2" in err and "pursuit/ppo/independent/seed2" in err
    assert main(args + ["--allow-missing"]) == 0
    assert (
        main(["statistics", "--root", str(tmp_path), "--configfile", str(tmp_path / "c.yaml")]) == 0
    )
    st = pd.read_csv(tmp_path / agg.STATISTICS_TABLE)
    assert (st["seeds"] == "0 1").all()
    pc = pd.read_csv(tmp_path / agg.PAPER_TABLE, keep_default_na=False)
    assert set(pc["preset_matches_paper"]) == {"no"}  # max_cycles changed over the preset
    assert (pc["settings_changed_over_preset"] == "max_cycles").all()
    assert main(["statistics", "--root", str(tmp_path / "nothing")]) == 2
    assert "run the aggregate stage first" in capsys.readouterr().err


def test_paper_comparison_uses_the_papers_measure_for_apex(tmp_path):
    """An Ape-X run logs the paper's measure (its least-exploring runners, their episodes)
    beside psmarl's every-runner measure: the comparison takes the paper's, and shows both."""
    jobs = []
    make_random(tmp_path, "pursuit", 30.0)
    for seed in (0, 1):
        make_run(tmp_path, "pursuit", "apex_dqn", "shared", seed, [100.0, 300.0, 200.0], 250.0)
        p = tmp_path / results.progress_csv("pursuit", "apex_dqn", "shared", seed)
        prog = pd.read_csv(p)
        prog["paper_avg_total_reward"] = [150.0, 400.0 + seed, 600.0 + seed]
        prog["paper_episodes"] = [4, 8, 12]
        prog.to_csv(p, index=False)
        jobs.append(("pursuit", "apex_dqn", "shared", seed))
    agg.aggregate(tmp_path, jobs, ["pursuit"], log=lambda m: None)
    summary = pd.read_csv(tmp_path / results.SUMMARY_TABLE)
    assert list(summary["paper_best_avg_total_reward"]) == [600.0, 601.0]
    assert list(summary["best_avg_total_reward"]) == [300.0, 300.0]
    pc = agg.statistics(tmp_path, {"stats": FAST}, log=lambda m: None)[agg.PAPER_TABLE]
    row = pc[(pc["method"] == "apex_dqn") & (pc["sharing"] == "shared")].iloc[0]
    assert row["paper_value"] == 621
    assert row["ours_max_avg_total_reward_iqm"] == pytest.approx(600.5)
    assert row["ours_max_avg_total_reward_best_seed"] == 601.0
    assert row["ours_episodes_at_max_median"] == 12  # the reported runners' episodes
    assert row["ours_all_runners_max_iqm"] == pytest.approx(300.0)
