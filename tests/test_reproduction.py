"""Keeping runs in the repository (psmarl.kept_runs), and the reports built from them: the
reproduction report (psmarl.reproduction) and the learning check (psmarl.learning_check)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from psmarl import kept_runs, learning_check, results
from psmarl import reproduction as rep
from psmarl.errors import InputError


def _fake_run(
    root: Path,
    sharing: str,
    seed: int,
    rewards,
    steps_per_iter=6400,
    eps_per_iter=50,
    evaluated=True,
):
    run = root / results.run_dir("multiwalker", "ppo", sharing, seed)
    (run / "eval").mkdir(parents=True)
    n = len(rewards)
    df = pd.DataFrame(
        {
            "iteration": np.arange(1, n + 1),
            "env_steps": steps_per_iter * np.arange(1, n + 1),
            "episodes": eps_per_iter * np.arange(1, n + 1),
            "wall_seconds": 10.0 * np.arange(1, n + 1),
            "avg_total_reward": rewards,
        }
    )
    df.to_csv(run / "progress.csv", index=False)
    spec = {
        "env": {"name": "multiwalker", "preset": "paper", "kwargs": {}, "options": {}},
        "method": "ppo",  # as psmarl.config.train_spec writes it
        "method_settings": {"training": {"train_batch_size_per_learner": 6400}},
        "budget": {"env_steps": steps_per_iter * n},
    }
    (run / "train_summary.json").write_text(
        json.dumps(
            {
                "iterations": n,
                "env_steps": int(steps_per_iter * n),
                "episodes": int(eps_per_iter * n),
                "wall_seconds": 10.0 * n,
                "spec": spec,
                "runtime": {"num_env_runners": 2, "num_envs_per_env_runner": 8},
                "backend": "fast",
            }
        )
    )
    if evaluated:
        (run / "eval" / "summary.json").write_text(
            json.dumps(
                {
                    "episodes": 100,
                    "mean": float(rewards[-1]),
                    "std": 1.0,
                    "ci95_low": float(rewards[-1]) - 0.2,
                    "ci95_high": float(rewards[-1]) + 0.2,
                }
            )
        )
        (run / "eval" / "episodes.csv").write_text("episode,seed,total_reward,length\n")
    return run


def _paper_checkout(tmp: Path, **shared_learner: float) -> Path:
    """A checkout of the paper's repository with its two multiwalker PPO logs; the shared
    log gets a constant column ``info/learner/policy_0/<name>`` per keyword."""
    repo = tmp / "paper"
    d = repo / "plot/data/multi_walker"
    d.mkdir(parents=True)
    for name, rewards in (
        ("ppo1", [-100, -50, 5, 25, 35, 41, 30]),
        ("sa_ppo", [-100, -90, -40, 10, 22, 31, 38.8]),
    ):
        n = len(rewards)
        pd.DataFrame(
            {
                "episode_reward_mean": rewards,
                "timesteps_total": 6400 * np.arange(1, n + 1),
                "episodes_total": 100 * np.arange(1, n + 1),
            }
        ).to_csv(d / f"{name}.csv", index=False)
    shared = d / "ppo1.csv"
    df = pd.read_csv(shared)
    for name, value in shared_learner.items():
        df[f"info/learner/policy_0/{name}"] = value
    df.to_csv(shared, index=False)
    return repo


@pytest.fixture
def kept(tmp_path):
    root = tmp_path / "results"
    curves = {
        ("shared", 0): [-100, -20, 10, 25, 31, 33],
        ("shared", 1): [-100, -60, 5, 21, 29, 32],
        ("shared", 2): [-100, -30, 1, 15, 22, 24],
        ("independent", 0): [-100, -80, -50, -10, 5, 12],
        ("independent", 1): [-100, -90, -70, -30, -5, 2],
        ("independent", 2): [-100, -70, -40, -20, 0, 21],
    }
    for (sharing, seed), r in curves.items():
        _fake_run(root, sharing, seed, r)
    _fake_run(root, "shared", 3, [-100, -90], evaluated=False)  # still being evaluated
    sampled = root / results.sampled_eval_dir("multiwalker", "ppo", "shared", 0)
    sampled.mkdir()  # shared seed 0 was also evaluated with sampled actions
    (sampled / "episodes.csv").write_text("episode,seed,total_reward,length\n")
    (sampled / "summary.json").write_text(
        json.dumps({"episodes": 100, "mean": 30.0, "std": 1.0, "ci95_low": 29.5, "ci95_high": 30.5})
    )
    rand = root / results.random_summary_json("multiwalker")
    rand.parent.mkdir(parents=True)
    rand.write_text(json.dumps({"episodes": 1000, "mean": -102.5}))
    dest = tmp_path / "docs" / "reproduction"
    copied = kept_runs.keep_runs(root, dest, log=lambda m: None)
    return tmp_path, root, dest, copied


def test_keep_runs_copies_finished_runs_only_and_once(kept):
    tmp, root, dest, copied = kept
    assert sorted(copied) == sorted(
        ("multiwalker", "ppo", s, str(k)) for s in ("shared", "independent") for k in range(3)
    )
    run = dest / results.run_dir("multiwalker", "ppo", "shared", 0)
    src = root / results.run_dir("multiwalker", "ppo", "shared", 0)
    for f in kept_runs.KEPT_RUN_FILES:  # the sampled evaluation too (this run has one)
        assert (run / f).read_bytes() == (src / f).read_bytes()
    assert json.loads((run / kept_runs.MACHINE_JSON).read_text())["cpus"] >= 1
    assert not (dest / results.run_dir("multiwalker", "ppo", "shared", 3)).exists()
    assert (dest / results.random_summary_json("multiwalker")).exists()
    assert kept_runs.keep_runs(root, dest, log=lambda m: None) == []  # nothing new
    # a run that changed (retrained) is kept again, as a whole
    p = root / results.progress_csv("multiwalker", "ppo", "shared", 0)
    p.write_text(p.read_text().rstrip("\n") + "4\n")  # last reward 33 -> 334
    assert kept_runs.keep_runs(root, dest, log=lambda m: None) == [
        ("multiwalker", "ppo", "shared", "0")
    ]


def test_keep_runs_keeps_baselines_made_before_any_run(tmp_path):
    """A results folder holding only baselines (made first, as the continue scripts do) is
    kept; a folder holding neither runs nor baselines is an error naming it."""
    root, dest = tmp_path / "results", tmp_path / "kept"
    idle = root / results.baseline_summary_json("idle", "multiwalker")
    idle.parent.mkdir(parents=True)
    idle.write_text(json.dumps({"episodes": 100, "mean": -87.0}))
    assert kept_runs.keep_runs(root, dest, log=lambda m: None) == []
    assert (dest / results.baseline_summary_json("idle", "multiwalker")).exists()
    with pytest.raises(InputError, match="no runs/ or baselines/ folder"):
        kept_runs.keep_runs(tmp_path / "elsewhere", dest, log=lambda m: None)


def test_median_iteration_rate_is_the_undisturbed_speed():
    """A run slowed for a stretch (a test suite beside it) and resumed once (its wall clock
    goes on from the kept total): the median iteration speed is the usual one, the whole
    run's speed is lower."""
    wall = np.cumsum([10.0] * 6 + [40.0] * 3 + [12.0] + [10.0] * 5)  # slow, then a resume
    progress = pd.DataFrame({"env_steps": 6400.0 * np.arange(1, 16), "wall_seconds": wall})
    assert rep.median_iteration_rate(progress) == 640.0
    assert 6400 * 15 / wall[-1] < 500
    assert np.isnan(rep.median_iteration_rate(progress[["env_steps"]]))
    assert np.isnan(rep.median_iteration_rate(progress.head(1)))


def test_first_reaching_and_milestones():
    curve = pd.DataFrame(
        {
            "env_steps": [10.0, 20, 30, 40],
            "episodes": [1.0, 2, 3, 4],
            "avg_total_reward": [-5.0, 0.0, 40, 30],
        }
    )
    assert rep.first_reaching(curve, 0) == (20.0, 2.0)
    assert rep.first_reaching(curve, 30) == (30.0, 3.0)
    assert all(np.isnan(rep.first_reaching(curve, 50)))
    rows = {r["measure"]: r for r in rep.curve_milestones(curve, (0, 30))}
    assert rows["maximum"]["value"] == 40 and rows["maximum"]["env_steps"] == 30


def test_iqm_band_contains_the_iqm_and_one_seed_has_no_width():
    values = np.array([[0.0, 1.0, 2.0], [1.0, 3.0, 2.0], [2.0, 2.0, 2.0], [9.0, 4.0, 2.0]])
    mid, lo, hi = rep.iqm_band(values, reps=500)
    np.testing.assert_allclose(mid, [1.5, 2.5, 2.0])  # mean of the middle two
    assert (lo <= mid).all() and (mid <= hi).all() and lo[2] == hi[2] == 2.0
    mid1, lo1, hi1 = rep.iqm_band(values[:1])
    assert (lo1 == mid1).all() and (hi1 == mid1).all()


def test_report_tables_from_kept_runs_and_the_paper_logs(kept):
    tmp, _, dest, _ = kept
    idle = dest / results.baseline_summary_json("idle", "multiwalker")  # kept beside random
    idle.parent.mkdir(parents=True)
    idle.write_text(json.dumps({"episodes": 100, "mean": -87.3}))
    out = tmp / "docs" / "reproduction.md"
    rep.build_report(
        dest, out, paper_logs=_paper_checkout(tmp), spec={"bootstrap_reps": 200}, log=lambda m: None
    )
    text = out.read_text()
    assert (tmp / "docs/reproduction/curves_multiwalker_ppo.png").stat().st_size > 10_000
    # shared seed 0 first reaches 30 at its 5th iteration (32,000 env steps, 250 episodes)
    row30 = next(ln for ln in text.splitlines() if ln.startswith("| shared | >= 30 |"))
    assert "0.03M (0.2k ep.)" in row30 and "2 of 3 seeds reached it" in row30
    # paper's shared log first reaches 30 at its 5th row: 32,000 steps, 500 episodes
    assert row30.endswith("0.03M (0.5k ep.) |")
    row0 = next(ln for ln in text.splitlines() if ln.startswith("| shared | >= 0 |"))
    assert "not reached" not in row0 and "[" in row0  # all seeds: an IQM with its CI
    assert "| independent | 12.0 at 0.04M | 2.0 at 0.04M | 21.0 at 0.04M |" in text
    assert "41.0 at 0.04M (0.6k ep.)" in text
    # both baselines kept beside the runs: rows of the evaluation table (and lines drawn)
    assert "| random policy |  | 1000 | -102.5 |" in text
    assert "| every agent idle |  | 100 | -87.3 |" in text
    # the sampled-actions evaluation stands beside the deterministic one where it was made
    assert "| shared | 0 | 100 | 33.0 [32.8, 33.2] | 30.0 [29.5, 30.5] |" in text
    assert "| independent | 0 | 100 | 12.0 [11.8, 12.2] | - |" in text
    # the IQM of the sampled evaluations too (one here); no P(shared > independent) of them
    # without an independent one
    iqm = next(ln for ln in text.splitlines() if ln.startswith("| shared | IQM over seeds |"))
    assert iqm.endswith("| 30.0 |"), iqm
    assert "sampled actions |" not in text.split("## Does a shared seed")[1].split("##")[0]
    assert '- method `ppo`, settings `{"train_batch_size_per_learner": 6400}`' in text
    # the throughput table says which env implementation each run stepped
    assert text.count("| 2 x 8 | fast |") == 6  # the six evaluated (kept) runs
    # and its speed: over the whole wall time, and its iterations' median (10 s per 6400)
    assert text.count("| 640 | 640 | 2 x 8 | fast |") == 6
    # every shared maximum beats every independent one
    assert "| maximum average total reward | 1.00" in text
    milestones = pd.read_csv(dest / rep.PAPER_MILESTONES)
    assert set(milestones["sharing"]) == {"shared", "independent"}
    # without the paper's logs, the kept milestones are used and the report says so
    rep.build_report(dest, out, spec={"bootstrap_reps": 200}, log=lambda m: None)
    text2 = out.read_text()
    assert "The paper's curves are not drawn" in text2
    assert row30 in text2
    # with sampled evaluations of both modes, their P(shared > independent) too
    ind = dest / results.sampled_eval_dir("multiwalker", "ppo", "independent", 0)
    ind.mkdir()
    (ind / "summary.json").write_text(
        json.dumps({"episodes": 100, "mean": 10.0, "std": 1.0, "ci95_low": 9.5, "ci95_high": 10.5})
    )
    rep.build_report(dest, out, spec={"bootstrap_reps": 200}, log=lambda m: None)
    text3 = out.read_text()
    assert "| independent | 0 | 100 | 12.0 [11.8, 12.2] | 10.0 [9.5, 10.5] |" in text3
    assert "| held-out evaluation return, sampled actions | 1.00" in text3


def test_a_kept_run_cut_short_is_an_error_naming_the_file(kept):
    tmp, _, dest, _ = kept
    p = dest / results.progress_csv("multiwalker", "ppo", "independent", 1)
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(InputError, match="progress.csv"):
        rep.build_report(dest, tmp / "r.md", log=lambda m: None)


def test_learning_check_verdicts(kept, tmp_path):
    _, root, dest, _ = kept
    # a run whose final checkpoint plays like the random policy
    _fake_run(root, "shared", 4, [-100, -101, -99.5])
    # one whose greedy actions play like random and whose sampled ones, the policy as it
    # acts (and as the paper played it), do not: the verdict is the sampled plays'
    run = _fake_run(root, "shared", 5, [-100, -101, -99.5])
    (run / "eval_sampled").mkdir()
    (run / "eval_sampled" / "summary.json").write_text(
        json.dumps({"episodes": 100, "mean": 30.0, "std": 1.0, "ci95_low": 29.0, "ci95_high": 31.0})
    )
    kept_runs.keep_runs(root, dest, log=lambda m: None)
    table = learning_check.write_learning_check(dest, tmp_path / "lc.md", log=lambda m: None)
    # each run's speed (19,200 env steps in 30 s) and the machine that ran it
    assert set(table["env_steps_per_s"]) == {640.0}
    cpus = kept_runs.machine_info()["cpus"]
    assert f"on {cpus} x " in (tmp_path / "lc.md").read_text()
    verdict = {(r.sharing, r.seed): r.verdict for r in table.itertuples()}
    assert verdict[("shared", 4)] == "does not learn at this budget"
    assert verdict[("independent", 1)] == "learns"  # 2.0 >> -102.5 + 7.2
    assert verdict[("shared", 5)] == "learns"
    five = table.set_index(["sharing", "seed"]).loc[("shared", 5)]
    assert five["verdict_by"] == "sampled"
    assert five["deterministic_verdict"] == "does not learn at this budget"
    assert len(table) == 8 and (tmp_path / "lc.csv").exists()
    assert "7 of 8 runs learn." in (tmp_path / "lc.md").read_text()
    # the margin is what decides: the same run with a margin beyond its lead does not learn
    strict = learning_check.learning_check_table(dest, {"multiwalker": 200.0})
    assert set(strict["verdict"]) == {"does not learn at this budget"}
    # each budget's reason under the table, beside what the runs trained
    budgets = tmp_path / "budgets.csv"
    budgets.write_text(
        "env,method,budget,reason,paper_shared_at_budget,paper_independent_at_budget\n"
        "multiwalker,ppo,38400,the paper's logs stay above -94.9 from 0.03M,12.5,-99.0\n"
        "pursuit,ppo,100000,capped at about 7 min per run,,\n"
    )
    t = learning_check.write_learning_check(
        dest, tmp_path / "lc.md", log=lambda m: None, budgets=budgets
    )
    lines = (tmp_path / "lc.md").read_text().splitlines()
    # the paper's own run at the same budget, above the same bar or not (-102.5 + 7.2)
    row = t.set_index(["sharing", "seed"]).loc[("shared", 4)]
    assert row["paper_at_budget"] == 12.5 and row["paper_above_at_budget"] == True  # noqa: E712
    row = t.set_index(["sharing", "seed"]).loc[("independent", 0)]
    assert row["paper_above_at_budget"] == False  # noqa: E712
    shared4 = next(ln for ln in lines if ln.startswith("| multiwalker | ppo | shared | 0.02M"))
    assert shared4.endswith(
        "| -99.5 [-99.7, -99.3] | - | -102.5 | 7.2 | - | **does not learn at this budget** "
        "| -99.5 | 12.5 (above random + margin) |"
    )  # "-": not played with sampled actions; -99.5: its last training average
    assert row_of(t, "shared", 4)["training_average_at_budget"] == -99.5
    assert "| 640 | " in shared4
    # shared seed 0 was played with sampled actions too: beside, the verdict stays its own
    shared0 = next(ln for ln in lines if ln.startswith("| multiwalker | ppo | shared | 0.04M"))
    assert (
        "| 33.0 [32.8, 33.2] | 30.0 [29.5, 30.5] | -102.5 | 7.2 | - "
        "| **learns** (sampled; greedy too) |" in shared0
    )
    shared5 = next(ln for ln in lines if "| -99.5 [-99.7, -99.3] | 30.0 [29.0, 31.0] |" in ln)
    assert "| **learns** (sampled; greedy: does not learn at this budget) |" in shared5
    assert "## Budgets and why" in lines
    # the budgets list 2 pairs, 4 runs in both modes: every one of the 8 kept is counted
    assert "7 of 8 runs learn." in lines
    # a check filled over several sittings says how many runs are still to come
    more = tmp_path / "more.csv"
    more.write_text(
        budgets.read_text() + "".join(f"waterworld,m{i},100000,capped,,\n" for i in range(3))
    )
    learning_check.write_learning_check(dest, tmp_path / "lc.md", log=lambda m: None, budgets=more)
    assert (
        "7 of 8 runs learn. The check has 10 runs (both modes of each budget's pair): 2 to go."
        in (tmp_path / "lc.md").read_text().splitlines()
    )
    assert (
        "| multiwalker | ppo | 0.04M | 0.04M | the paper's logs stay above -94.9 from 0.03M |"
        in lines
    )
    assert "| pursuit | ppo | 0.10M | - | capped at about 7 min per run |" in lines

    # the idle baseline (every walker idle) kept beside the random one: a "learns" whose CI
    # does not lie above its mean says so, the greedy verdict in brackets too
    idle = root / results.baseline_summary_json("idle", "multiwalker")
    idle.parent.mkdir(parents=True)
    idle.write_text(json.dumps({"episodes": 100, "mean": 31.0, "policy": "idle"}))
    kept_runs.keep_runs(root, dest, log=lambda m: None)
    assert (
        dest / results.baseline_summary_json("idle", "multiwalker")
    ).read_text() == idle.read_text()
    t = learning_check.write_learning_check(dest, tmp_path / "lc.md", log=lambda m: None)
    lines = (tmp_path / "lc.md").read_text().splitlines()
    assert set(t["idle_mean"]) == {31.0}
    shared0 = next(ln for ln in lines if ln.startswith("| multiwalker | ppo | shared | 0.04M"))
    assert (
        "| -102.5 | 7.2 | 31.0 | **learns, not above idle** (sampled; greedy: learns) |" in shared0
    )  # sampled 30.0 [29.5, 30.5]: not above 31.0; greedy 33.0 [32.8, 33.2]: above
    assert row_of(t, "shared", 0)["above_idle"] == False  # noqa: E712
    assert row_of(t, "shared", 0)["deterministic_above_idle"] == True  # noqa: E712
    not_idle = int(sum(t["verdict"].eq("learns") & t["above_idle"].eq(False)))
    assert 0 < not_idle < 7
    assert f"7 of 8 runs learn, {not_idle} of them not above idle." in lines


def row_of(table, sharing, seed):
    return table.set_index(["sharing", "seed"]).loc[(sharing, seed)]


def test_the_training_average_at_the_budget_is_in_the_paper_s_measure():
    """Beside the paper's logged average: the last one in the same window (old RLlib's),
    psmarl's own where a run did not log that column."""
    both = pd.DataFrame(
        {"avg_total_reward": [1.0, 2.0, np.nan], "paper_avg_total_reward": [1.5, 2.5, np.nan]}
    )
    assert learning_check._last_logged(both) == 2.5
    assert learning_check._last_logged(both.drop(columns="paper_avg_total_reward")) == 2.0
    assert np.isnan(learning_check._last_logged(pd.DataFrame({"avg_total_reward": [np.nan]})))


def test_the_best_training_average_is_over_a_full_window(tmp_path):
    """A lucky first window of a few episodes is not the run's best training average."""
    from psmarl import run_loop

    assert learning_check.WINDOW_EPISODES == run_loop.SMOOTHING_EPISODES
    root, dest = tmp_path / "results", tmp_path / "kept"
    _fake_run(root, "shared", 0, [87.0, 30.0, 44.0], eps_per_iter=60)  # 60, 120, 180
    _fake_run(root, "independent", 0, [87.0, 30.0], eps_per_iter=20)  # never 100 episodes
    kept_runs.keep_runs(root, dest, log=lambda m: None)
    table = learning_check.learning_check_table(dest)
    assert row_of(table, "shared", 0)["best_training_average"] == 44.0
    assert row_of(table, "independent", 0)["best_training_average"] == 87.0


def test_a_cut_paper_milestones_file_is_an_error_naming_the_file(kept):
    tmp, _, dest, _ = kept
    p = dest / rep.PAPER_MILESTONES
    p.write_text("sharing,measure,value,env_steps,episodes,source\nshared,maximum,41.0,4")
    with pytest.raises(InputError) as e:
        rep.build_report(dest, tmp / "r.md", log=lambda m: None)
    assert str(e.value).startswith(f"{p}: ends inside a row")
    assert "psmarl reproduction-report --paper-logs" in str(e.value)


def _training_run(root: Path, sharing: str, seed: int, rewards, checkpoint_at: int) -> Path:
    """An unfinished run as the run loop leaves it: ``.work`` with a checkpoint at iteration
    ``checkpoint_at`` and progress rows beyond it (and a torn last line)."""
    run = root / results.run_dir("multiwalker", "ppo", sharing, seed)
    ckpt = run / ".work" / "checkpoint"
    ckpt.mkdir(parents=True)
    (ckpt / "module_state.pkl").write_bytes(b"weights" * 10)
    rows = [
        {
            "iteration": i + 1,
            "env_steps": 6400 * (i + 1),
            "episodes": 50 * (i + 1),
            "wall_seconds": 10.0 * (i + 1),
            "avg_total_reward": r,
        }
        for i, r in enumerate(rewards)
    ]
    (run / ".work" / "progress.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows) + '{"iteration": 9'
    )
    last = rows[checkpoint_at - 1]
    (ckpt / results.RUN_META).write_text(
        json.dumps(
            {
                "loop": {
                    k: last[k] for k in ("iteration", "env_steps", "episodes", "wall_seconds")
                },
                "spec": {"budget": {"env_steps": 6400 * 10}},
            }
        )
    )
    return run


def test_unfinished_runs_are_kept_restored_and_reported(tmp_path):
    root, dest = tmp_path / "results", tmp_path / "docs" / "reproduction"
    _training_run(root, "shared", 0, [-100, -80, -60, -50, -45], checkpoint_at=4)
    _training_run(root, "independent", 0, [-100, -95], checkpoint_at=2)
    # --finished-only (the learning check: big checkpoints, short runs) leaves them out
    assert kept_runs.keep_runs(root, dest, log=lambda m: None, unfinished=False) == []
    assert not (dest / kept_runs.UNFINISHED).exists()
    copied = kept_runs.keep_runs(root, dest, log=lambda m: None)
    assert sorted(copied) == [
        ("multiwalker", "ppo", "independent", "0"),
        ("multiwalker", "ppo", "shared", "0"),
    ]
    kept = dest / kept_runs.UNFINISHED / results.run_dir("multiwalker", "ppo", "shared", 0)
    # the checkpoint, and the rows up to it only (row 5 is redone on resume)
    assert (kept / "checkpoint" / "module_state.pkl").read_bytes() == b"weights" * 10
    assert [
        json.loads(x)["iteration"] for x in (kept / "progress.jsonl").read_text().splitlines()
    ] == [1, 2, 3, 4]
    assert kept_runs.keep_runs(root, dest, log=lambda m: None) == []  # nothing newer

    # a fresh machine: the kept checkpoint goes back where ./run.sh resumes from it
    fresh = tmp_path / "fresh"
    restored = kept_runs.restore_unfinished(dest, fresh, log=lambda m: None)
    assert len(restored) == 2
    work = fresh / results.run_dir("multiwalker", "ppo", "shared", 0) / ".work"
    assert (
        json.loads((work / "checkpoint" / results.RUN_META).read_text())["loop"]["iteration"] == 4
    )
    assert kept_runs.restore_unfinished(dest, fresh, log=lambda m: None) == []  # as far already
    with pytest.raises(InputError, match="no unfinished runs kept here"):
        kept_runs.restore_unfinished(tmp_path / "nowhere", fresh, log=lambda m: None)

    # the report while nothing has finished: the runs still training, beside the paper
    out = tmp_path / "docs" / "reproduction.md"
    rep.build_report(dest, out, paper_logs=_paper_checkout(tmp_path), log=lambda m: None)
    text = out.read_text()
    assert "No run has reached its budget yet" in text and "## Runs still training" in text
    row = next(line for line in text.splitlines() if line.startswith("| shared | 0 | 4 |"))
    assert "(40% of 0.06M)" in row and "| -50.0 |" in row
    assert (out.parent / "reproduction" / "training_multiwalker_ppo.png").exists()

    # once the run finished and is kept, its unfinished copy goes
    _fake_run(root, "shared", 0, [-100, -80, -60, -50, -45, -40], evaluated=True)
    kept_runs.keep_runs(root, dest, log=lambda m: None)
    assert not kept.exists()
    assert (
        dest / kept_runs.UNFINISHED / results.run_dir("multiwalker", "ppo", "independent", 0)
    ).exists()


def test_superseded_runs_are_drawn_and_listed_apart_from_every_statistic(tmp_path):
    root, dest = tmp_path / "results", tmp_path / "docs" / "reproduction"
    _training_run(root, "shared", 0, [-100, -80, -60], checkpoint_at=3)
    kept_runs.keep_runs(root, dest, log=lambda m: None)
    old = dest / rep.SUPERSEDED / "old_defect"
    seed_dir = old / "runs" / "multiwalker" / "ppo" / "shared" / "seed0"
    seed_dir.mkdir(parents=True)
    rows = [
        {"iteration": i + 1, "env_steps": 6400 * (i + 1), "avg_total_reward": r}
        for i, r in enumerate([-110.0, -90.0, -70.5, -75.0])
    ]
    (seed_dir / "progress.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "docs" / "reproduction.md"
    paper = _paper_checkout(tmp_path)
    # a superseded variant must say why
    with pytest.raises(InputError, match="why.md"):
        rep.build_report(dest, out, paper_logs=paper, log=lambda m: None)
    (old / rep.WHY_FILE).write_text("The value loss was\nclamped.\n")
    rep.build_report(dest, out, paper_logs=paper, log=lambda m: None)
    text = out.read_text()
    assert "## Superseded runs (a defect since fixed)" in text
    assert "**old_defect.** The value loss was clamped." in text
    row = next(line for line in text.splitlines() if line.startswith("| shared | 0 | 0.03M"))
    assert "| -75.0 | -70.5 |" in row
    # not a run still training, nor a finished one
    assert "| shared | 0 | 3 |" in text and text.count("| shared | 0 |") == 2


def test_learner_diagnostics_average_the_policies_and_keep_other_names_out():
    old_rllib = pd.DataFrame(
        {
            "env_steps": [6400, 12800],
            "info/learner/policy_0/entropy": [5.0, 6.0],
            "info/learner/policy_1/entropy": [7.0, 8.0],
            "info/learner/policy_0/entropy_coeff": [0.01, 0.01],
            "info/learner/policy_0/vf_loss": [20.0, 30.0],
        }
    )
    d = rep.learner_diagnostics(old_rllib)
    assert list(d.columns) == ["env_steps", "entropy", "vf_loss"]
    assert list(d["entropy"]) == [6.0, 7.0] and list(d["vf_loss"]) == [20.0, 30.0]
    ours = pd.DataFrame(
        {
            "env_steps": [6400, 12800, 19200],
            "shared/vf_loss": [10.0, 20.0, 30.0],
            "shared/vf_loss_unclipped": [99.0, 99.0, 99.0],
        }
    )
    d = rep.learner_diagnostics(ours)
    assert list(d["vf_loss"]) == [10.0, 20.0, 30.0]
    # the smoothed value at the last row at or before the step; NaN beyond the run
    assert rep.diagnostics_at(d, "vf_loss", 13000) == pytest.approx(15.0)
    assert np.isnan(rep.diagnostics_at(d, "vf_loss", 20000))
    assert np.isnan(rep.diagnostics_at(d, "entropy", 6400))
    assert rep.learner_diagnostics(pd.DataFrame({"iteration": [1]})).empty


def test_the_report_draws_the_learner_beside_the_paper_logs(tmp_path, monkeypatch):
    root, dest = tmp_path / "results", tmp_path / "docs" / "reproduction"
    run = _training_run(root, "shared", 0, [-100, -80, -60, -50], checkpoint_at=4)
    progress = run / ".work" / "progress.jsonl"
    rows = [json.loads(x) for x in progress.read_text().splitlines()[:4]]
    for i, r in enumerate(rows):
        r.update({"shared/entropy": 5.5 + 0.1 * i, "shared/vf_explained_var": 0.5})
        r.update({"shared/vf_loss": 20.0, "shared/vf_loss_unclipped": 80.0})
    progress.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kept_runs.keep_runs(root, dest, log=lambda m: None)
    paper = _paper_checkout(tmp_path, entropy=5.8, vf_explained_var=0.7, vf_loss=30.0)
    out = tmp_path / "docs" / "reproduction.md"
    rep.build_report(dest, out, paper_logs=paper, log=lambda m: None)
    text = out.read_text()
    figure = out.parent / "reproduction" / "learner_multiwalker_ppo.png"
    assert figure.stat().st_size > 10_000
    assert "## The learner beside the paper's logs" in text
    assert "![learner](reproduction/learner_multiwalker_ppo.png)" in text
    # 0.25M is beyond these tiny runs: the table has that mark only, with no value
    row = next(ln for ln in text.splitlines() if ln.startswith("| psmarl shared seed 0 |"))
    assert row == "| psmarl shared seed 0 | - |"
    monkeypatch.setattr(rep, "DIAGNOSTICS_AT", (12_800, 19_200, 10**6))
    rep.build_report(dest, out, paper_logs=paper, log=lambda m: None)
    lines = out.read_text().splitlines()
    # rolling means up to each mark; vf_loss_unclipped is another column
    assert "| psmarl shared seed 0 | 5.55 / 0.50 / 20.0 | 5.60 / 0.50 / 20.0 |" in lines
    assert "| paper shared (its log) | 5.80 / 0.70 / 30.0 | 5.80 / 0.70 / 30.0 |" in lines
    assert "| paper independent (its log) | - | - |" not in lines  # no diagnostics: no row
    # without any diagnostic in the runs: no section, and no stale figure
    progress = dest / kept_runs.UNFINISHED / results.run_dir("multiwalker", "ppo", "shared", 0)
    jsonl = progress / "progress.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps({k: v for k, v in r.items() if "/" not in k}) + "\n"
            for r in (json.loads(x) for x in jsonl.read_text().splitlines())
        )
    )
    rep.build_report(dest, out, paper_logs=paper, log=lambda m: None)
    assert "The learner beside" not in out.read_text() and not figure.exists()


def _final_checkpoint(run: Path) -> None:
    """A finished run's final checkpoint, as the train stage leaves it."""
    ckpt = run / kept_runs.KEPT_CHECKPOINT
    (ckpt / "learner_group").mkdir(parents=True)
    (ckpt / "learner_group" / "module_state.pkl").write_bytes(b"final weights")
    (ckpt / results.RUN_META).write_text(json.dumps({"loop": {"iteration": 6}}))


def test_finished_runs_keep_their_checkpoint_and_come_back_as_done(tmp_path):
    root, dest = tmp_path / "results", tmp_path / "docs" / "reproduction"
    run = _fake_run(root, "shared", 0, [-100, -20, 10, 25, 31, 33])
    _final_checkpoint(run)
    quiet = lambda m: None  # noqa: E731
    kept_runs.keep_runs(root, dest, log=quiet)  # without --checkpoints: the small files only
    kept = dest / results.run_dir("multiwalker", "ppo", "shared", 0)
    assert not (kept / kept_runs.KEPT_CHECKPOINT).exists()
    with pytest.raises(InputError, match="no run kept here with its checkpoint"):
        kept_runs.restore_runs(dest, tmp_path / "fresh", log=quiet)
    # asked for, the checkpoint joins the files already kept; asked again, nothing to do
    assert kept_runs.keep_runs(root, dest, log=quiet, checkpoints=True) == [
        ("multiwalker", "ppo", "shared", "0")
    ]
    assert (kept / kept_runs.KEPT_CHECKPOINT / "learner_group" / "module_state.pkl").exists()
    assert kept_runs.keep_runs(root, dest, log=quiet, checkpoints=True) == []
    assert kept_runs.keep_runs(root, dest, log=quiet) == []  # a kept checkpoint stays

    # a fresh machine: the run comes back whole, each stage's output newer than its input
    fresh = tmp_path / "fresh"
    assert kept_runs.restore_runs(dest, fresh, log=quiet) == [
        fresh / results.run_dir("multiwalker", "ppo", "shared", 0)
    ]
    back = fresh / results.run_dir("multiwalker", "ppo", "shared", 0)
    for f in kept_runs.KEPT_RUN_FILES:
        if (run / f).exists():  # this run has no sampled-actions evaluation
            assert (back / f).read_bytes() == (run / f).read_bytes()
    ckpt_file = back / kept_runs.KEPT_CHECKPOINT / "learner_group" / "module_state.pkl"
    assert ckpt_file.read_bytes() == b"final weights"
    assert (
        ckpt_file.stat().st_mtime
        <= (back / "train_summary.json").stat().st_mtime
        <= (back / "eval" / "summary.json").stat().st_mtime
    )
    (back / "eval" / "summary.json").write_text("{}")  # a run there is left alone
    assert kept_runs.restore_runs(dest, fresh, log=quiet) == []
    assert (back / "eval" / "summary.json").read_text() == "{}"

    # retrained and kept again without --checkpoints: the old checkpoint is not kept with it
    p = run / "progress.csv"
    p.write_text(p.read_text().rstrip("\n") + "4\n")
    said = []
    kept_runs.keep_runs(root, dest, log=said.append)
    assert not (kept / kept_runs.KEPT_CHECKPOINT).exists()
    assert any("earlier training: not kept" in m for m in said)


@pytest.mark.slow
def test_snakemake_takes_a_restored_finished_run_as_done(tmp_path, snakemake_bin):
    """The workflow plans no training or evaluation for a run restored with its checkpoint
    (here: the tiny config's multiwalker PPO shared seed 0), and does for its neighbours."""
    import subprocess

    from conftest import REPO, TINY

    data = tmp_path / "kept"
    run = _fake_run(tmp_path / "results", "shared", 0, [-100, -50])
    _final_checkpoint(run)
    kept_runs.keep_runs(tmp_path / "results", data, log=lambda m: None, checkpoints=True)
    work = tmp_path / "wd"
    kept_runs.restore_runs(data, work / "results", log=lambda m: None)
    r = subprocess.run(
        [snakemake_bin, "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(work)]
        + ["--configfile", str(TINY), "-n", "-p"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    planned = r.stdout
    assert "--run-dir results/runs/multiwalker/ppo/independent/seed0" in planned
    assert "--run-dir results/runs/multiwalker/ppo/shared/seed0 " not in planned
    assert "--out-dir results/runs/multiwalker/ppo/shared/seed0/eval" not in planned


def test_ablations_are_compared_with_the_same_modes_runs_and_the_paper(tmp_path, monkeypatch):
    root, dest = tmp_path / "results", tmp_path / "docs" / "reproduction"
    run = _training_run(root, "shared", 0, [-100, -80, -60, -50], checkpoint_at=4)
    progress = run / ".work" / "progress.jsonl"
    rows = [json.loads(x) for x in progress.read_text().splitlines()[:4]]
    for i, r in enumerate(rows):  # RLlib 2 logs PPO's KL as mean_kl_loss
        r.update({"shared/entropy": 6.0 + 0.1 * i, "shared/mean_kl_loss": 0.002})
        r.update({"shared/vf_explained_var": 0.4})
    progress.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kept_runs.keep_runs(root, dest, log=lambda m: None)
    variant = dest / rep.ABLATIONS / "glorot_init"
    seed_dir = variant / "runs" / "multiwalker" / "ppo" / "shared" / "seed0"
    seed_dir.mkdir(parents=True)
    pd.DataFrame(
        {
            "iteration": [1, 2, 3],
            "env_steps": [6400, 12800, 19200],
            "avg_total_reward": [-100.0, -70.0, -40.0],
            "shared/entropy": [5.7, 5.8, 5.9],
            "shared/mean_kl_loss": [0.004, 0.004, 0.004],
            "shared/vf_explained_var": [0.6, 0.6, 0.6],
        }
    ).to_csv(seed_dir / "progress.csv", index=False)
    paper = _paper_checkout(tmp_path, entropy=5.8, kl=0.005, vf_explained_var=0.7)
    out = tmp_path / "docs" / "reproduction.md"
    with pytest.raises(InputError, match="what these runs changed"):
        rep.build_report(dest, out, paper_logs=paper, log=lambda m: None)
    (variant / rep.WHY_FILE).write_text("Glorot kernels,\nzero biases.\n")
    monkeypatch.setattr(rep, "ABLATION_AT", (12_800, 19_200))
    # a superseded run of the same mode is a baseline too (e.g. runs of an earlier game)
    old = dest / rep.SUPERSEDED / "old_game"
    old_seed = old / "runs" / "multiwalker" / "ppo" / "shared" / "seed0"
    old_seed.mkdir(parents=True)
    (old / rep.WHY_FILE).write_text("Another game.\n")
    pd.read_csv(seed_dir / "progress.csv").assign(
        **{"shared/entropy": 7.0, "avg_total_reward": -90.0}
    ).to_csv(old_seed / "progress.csv", index=False)
    rep.build_report(dest, out, paper_logs=paper, log=lambda m: None)
    lines = out.read_text().splitlines()
    assert (
        "| superseded (old_game) seed 0 | shared | 7.00 / 0.0040 / 0.60 | 7.00 / 0.0040 / 0.60"
        " | -90.0 |" in lines
    )
    shutil.rmtree(old)
    rep.build_report(dest, out, paper_logs=paper, log=lambda m: None)
    lines = out.read_text().splitlines()
    assert "## Controlled runs (the reproduction's settings with one thing changed)" in lines
    assert "**glorot_init.** Glorot kernels, zero biases." in lines
    # rolling means up to each mark: entropy / KL / explained variance; best so far
    assert (
        "| **glorot_init** seed 0 | shared | 5.75 / 0.0040 / 0.60 | 5.80 / 0.0040 / 0.60 | -40.0 |"
        in lines
    )
    assert (
        "| psmarl shared seed 0 | shared | 6.05 / 0.0020 / 0.40 | 6.10 / 0.0020 / 0.40 | -60.0 |"
        in lines
    )
    assert (
        "| paper shared (its log) | shared | 5.80 / 0.0050 / 0.70 | 5.80 / 0.0050 / 0.70 | 5.0 |"
        in lines
    )
    assert not any(ln.startswith("| paper independent") and "0.0050" in ln for ln in lines)
    figure = out.parent / "reproduction" / "ablations_multiwalker_ppo.png"
    assert figure.stat().st_size > 10_000
    assert "![controlled runs](reproduction/ablations_multiwalker_ppo.png)" in lines
    # the KL has its own panel and column in the learner table's data
    assert "kl" in rep.learner_diagnostics(pd.read_csv(seed_dir / "progress.csv")).columns
    # no ablation left: no section, no stale figure
    shutil.rmtree(dest / rep.ABLATIONS)
    rep.build_report(dest, out, paper_logs=paper, log=lambda m: None)
    assert "## Controlled runs" not in out.read_text() and not figure.exists()
