"""The whole Snakemake workflow on a tiny config (slow), its staleness rules and bad input."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, TINY

from psmarl import results

ENVS = ["pursuit", "waterworld", "multiwalker", "speaker_listener"]


def snakemake(snakemake_bin, workdir, *args, configfile=TINY, timeout=900):
    cmd = [
        snakemake_bin,
        "-s",
        str(REPO / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def planned_jobs(out: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job in a `snakemake -n` listing."""
    jobs, rule = set(), None
    for line in out.splitlines():
        m = re.match(r"^(?:localrule|rule) (\w+):", line.strip())
        if m:
            if rule is not None:
                jobs.add((rule, ""))
            rule = m.group(1)
            continue
        m = re.match(r"^wildcards: (.*)$", line.strip())
        if m and rule is not None:
            jobs.add((rule, m.group(1)))
            rule = None
    if rule is not None:
        jobs.add((rule, ""))
    return jobs


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    exe = shutil.which("snakemake", path=str(Path(__import__("sys").executable).parent))
    wd = tmp_path_factory.mktemp("wf")
    r = snakemake(exe, wd, "--cores", "2")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return exe, wd


@pytest.mark.slow
def test_tiny_workflow_produces_every_output(finished_run):
    _, wd = finished_run
    root = wd / "results"
    summary = pd.read_csv(root / results.SUMMARY_TABLE)
    for col in [
        "env",
        "method",
        "sharing",
        "seed",
        "best_avg_total_reward",
        "episodes_at_best",
        "eval_mean",
        "eval_ci95_low",
        "eval_ci95_high",
        "eval_episodes",
        "random_mean",
    ]:
        assert col in summary.columns
    assert len(summary) == 2 * len(ENVS)
    assert set(summary["env"]) == set(ENVS)
    assert set(summary["sharing"]) == {"shared", "independent"}
    assert (summary["eval_episodes"] == 3).all()
    assert (summary["eval_ci95_low"] <= summary["eval_mean"]).all()
    assert summary["random_mean"].notna().all()
    curves = pd.read_csv(root / results.CURVES_TABLE)
    assert set(curves["env"]) == set(ENVS)
    for env in ENVS:
        for ext in ("png", "pdf"):
            f = root / results.learning_curve_figure(env, ext)
            assert f.exists() and f.stat().st_size > 1000
        ep = pd.read_csv(root / results.random_episodes_csv(env))
        assert list(ep.columns) == results.EPISODE_COLUMNS and len(ep) == 3
    for table in (
        "statistics",
        "sharing_differences",
        "probability_of_improvement",
        "paper_comparison",
    ):
        assert len(pd.read_csv(root / f"tables/{table}.csv")) > 0, table
    for env in ENVS:
        for figure in (3, 4, 5):
            assert (root / f"figures/figure{figure}_{env}.png").stat().st_size > 1000
    assert (root / "figures/sharing_summary.pdf").stat().st_size > 1000
    assert (root / "report/config.yaml").exists()
    # marl-eval's file: every run's evaluation plays, in its documented structure
    from psmarl.exports import check_marl_eval

    me = json.loads((root / results.MARL_EVAL_JSON).read_text())
    check_marl_eval(me)
    for _, row in summary.iterrows():
        run = me[row["env"]][row["preset"]][f"{row['method']}_{row['sharing']}"][
            f"run_{row['seed']}"
        ]
        assert len(run["absolute_metrics"]["return"]) == 3
        assert run["step_0"]["step_count"] == row["train_env_steps"]
        assert np.mean(run["step_0"]["return"]) == pytest.approx(row["eval_mean"])
    # TensorBoard event files of every run, written as it trained
    for _, row in summary.iterrows():
        tb = root / results.run_dir(row["env"], row["method"], row["sharing"], row["seed"])
        assert list((tb / results.TENSORBOARD_DIR).glob("events.out.tfevents.*")), tb
    for log in (root / "logs").rglob("*.log"):
        assert "Traceback" not in log.read_text(), log
    assert not list(root.rglob(".work"))


@pytest.mark.slow
def test_finished_run_has_nothing_to_do(finished_run):
    exe, wd = finished_run
    r = snakemake(exe, wd, "-n")
    assert r.returncode == 0, r.stderr[-3000:]
    assert planned_jobs(r.stdout) == set(), r.stdout[-3000:]


def job_events(log: str) -> list[tuple[str, str, str]]:
    """("start" or "finish", rule, wildcards) in the order of a Snakemake log."""
    events, jobs, rule = [], {}, None
    for line in log.splitlines():
        line = line.strip()
        if m := re.match(r"^(?:localrule|rule) (\w+):$", line):
            rule = m.group(1)
        elif (m := re.match(r"^jobid: (\d+)$", line)) and rule is not None:
            jobs[m.group(1)] = [rule, ""]
            events.append(("start", m.group(1)))
        elif (m := re.match(r"^wildcards: (.*)$", line)) and rule is not None:
            jobs[events[-1][1]][1] = m.group(1)
            rule = None
        elif m := re.match(r"^Finished jobid: (\d+)", line):
            events.append(("finish", m.group(1)))
    return [(kind, *jobs[jobid]) for kind, jobid in events]


@pytest.mark.slow
def test_a_trained_run_is_evaluated_before_more_training_starts(finished_run):
    """Evaluations have the higher priority: whenever a job starts, no evaluation whose
    checkpoint is ready waits behind a training job."""
    _, wd = finished_run
    log = min((wd / ".snakemake" / "log").glob("*.snakemake.log"))  # the fixture's run
    events = job_events(log.read_text())
    trained, evaluated, trains_after_a_ready_evaluation = set(), set(), []
    for kind, rule, wildcards in events:
        if kind == "finish" and rule == "train":
            trained.add(wildcards)
        elif kind == "start" and rule == "evaluate":
            evaluated.add(wildcards)
        elif kind == "start" and rule == "train" and trained - evaluated:
            trains_after_a_ready_evaluation.append((wildcards, sorted(trained - evaluated)))
    assert len(trained) == 2 * len(ENVS) and evaluated == trained
    assert trains_after_a_ready_evaluation == []


@pytest.mark.slow
def test_changing_one_method_setting_reruns_only_its_jobs(finished_run, tmp_path):
    exe, wd = finished_run
    c = yaml.safe_load(TINY.read_text())
    c["methods"]["ppo"]["per_env"]["waterworld"] = {"training": {"lr": 0.001}}
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(c))
    r = snakemake(exe, wd, "-n", configfile=changed)
    assert r.returncode == 0, r.stderr[-3000:]
    jobs = planned_jobs(r.stdout)
    expected = set()
    for sharing in ("shared", "independent"):
        wc = f"env=waterworld, method=ppo, sharing={sharing}, seed=0"
        expected |= {("train", wc), ("evaluate", wc)}
    expected |= {
        ("aggregate", ""),
        ("marl_eval_export", ""),
        ("learning_curve", "env=waterworld"),
        ("all", ""),
        ("statistics", ""),
        ("sharing_summary", ""),
        ("config_record", ""),
    }
    expected |= {("paper_figure", f"figure={f}, env=waterworld") for f in (3, 4, 5)}
    jobs = {j for j in jobs if j[0] not in ("theory",)}
    assert jobs == expected, r.stdout[-4000:]


@pytest.mark.slow
def test_more_evaluation_workers_rerun_no_evaluation(finished_run, tmp_path):
    """A play's return does not depend on the worker split, so workers are not a param."""
    exe, wd = finished_run
    c = yaml.safe_load(TINY.read_text())
    c["evaluation"]["workers"] = 2
    changed = tmp_path / "workers.yaml"
    changed.write_text(yaml.safe_dump(c))
    r = snakemake(exe, wd, "-n", configfile=changed)
    assert r.returncode == 0, r.stderr[-3000:]
    stages = {j[0] for j in planned_jobs(r.stdout)}
    assert not stages & {"train", "evaluate", "random_baseline"}, r.stdout[-3000:]


@pytest.mark.slow
def test_a_raised_budget_continues_a_finished_run_through_the_workflow(finished_run, tmp_path):
    """Snakemake reruns a train job whose budget was raised and deletes its outputs first;
    the run continues from its kept final state instead of training again from zero."""
    exe, wd = finished_run
    copy = tmp_path / "wf"
    shutil.copytree(wd, copy, symlinks=True)
    run = copy / "results" / results.run_dir("pursuit", "ppo", "shared", 0)
    assert (results.final_state_dir(run) / "checkpoint" / results.RUN_META).exists()
    before = pd.read_csv(run / "progress.csv")
    c = yaml.safe_load(TINY.read_text())
    c["training"]["budget"] = {"iterations": 3}
    raised = tmp_path / "raised.yaml"
    raised.write_text(yaml.safe_dump(c))
    target = f"results/{results.progress_csv('pursuit', 'ppo', 'shared', 0)}"
    r = snakemake(exe, copy, "--cores", "2", target, configfile=raised)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    after = pd.read_csv(run / "progress.csv")
    assert list(after["iteration"]) == [1, 2, 3]
    cols = [c for c in before.columns if c != "wall_seconds"]
    pd.testing.assert_frame_equal(after.loc[:1, cols], before[cols])  # rows 1-2 kept
    logs = [p.read_text() for p in (copy / "results" / "logs").rglob("*.log")]
    assert any("continuing the finished run from iteration 2" in t for t in logs)
    summary = results.read_json(run / "train_summary.json")
    assert summary["iterations"] == 3 and summary["spec"]["budget"] == {"iterations": 3}


@pytest.mark.slow
def test_switching_wandb_on_reruns_no_training(finished_run, tmp_path):
    """W&B reaches the jobs through the environment, not a rule's params."""
    exe, wd = finished_run
    c = yaml.safe_load(TINY.read_text())
    c["wandb"] = {"mode": "offline", "project": "tiny"}
    changed = tmp_path / "wandb.yaml"
    changed.write_text(yaml.safe_dump(c))
    r = snakemake(exe, wd, "-n", configfile=changed)
    assert r.returncode == 0, r.stderr[-3000:]
    stages = {j[0] for j in planned_jobs(r.stdout)}
    assert not stages & {"train", "marl_train", "evaluate", "random_baseline"}, r.stdout[-3000:]


@pytest.mark.slow
def test_bad_config_fails_before_any_job(tmp_path, snakemake_bin):
    c = yaml.safe_load(TINY.read_text())
    c["envs"]["pursuit"]["preset"] = "nonsense"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(c))
    r = snakemake(snakemake_bin, tmp_path, "--cores", "1", configfile=bad)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "envs.pursuit.preset" in out and "nonsense" in out
    assert not (tmp_path / "results").exists()


def test_schema_rejects_unknown_top_level_key(tmp_path, snakemake_bin):
    c = yaml.safe_load(TINY.read_text())
    c["trainig"] = {}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(c))
    r = snakemake(snakemake_bin, tmp_path, "-n", configfile=bad, timeout=120)
    assert r.returncode != 0
    assert "'trainig' was unexpected" in r.stdout + r.stderr


def test_configfile_replaces_the_default_config(snakemake_bin, tmp_path):
    """config/paper.yaml must not inherit the laptop's small PPO batch from config.yaml."""
    target = "results/runs/pursuit/ppo/shared/seed0/progress.csv"
    specs = {}
    for name, extra in (
        ("paper", ["--configfile", str(REPO / "config/paper.yaml")]),
        ("default", []),
    ):
        # --force: print the job even when a previous ./run.sh already made the target
        r = subprocess.run(
            [
                snakemake_bin,
                "-s",
                str(REPO / "workflow" / "Snakefile"),
                target,
                "-n",
                "-p",
                "--force",
                *extra,
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        specs[name] = json.loads(re.search(r"--spec '(\{.*?\})'", r.stdout).group(1))
    assert specs["paper"]["method_settings"]["training"]["train_batch_size_per_learner"] == 6400
    assert specs["paper"]["method_settings"]["training"]["num_epochs"] == 10
    assert specs["default"]["method_settings"]["training"]["train_batch_size_per_learner"] == 1000
    assert specs["paper"]["budget"] == {"episodes": 60000}


def test_sampled_evaluation_is_planned_only_when_asked_for(snakemake_bin, tmp_path):
    """evaluation.sampled_actions adds one evaluate_sampled job per policy-gradient run (all
    of the tiny config's PPO runs), writing <run>/eval_sampled/; off, there is none."""
    overlay = tmp_path / "sampled.yaml"
    overlay.write_text("evaluation: {sampled_actions: true}\n")
    plans = {}
    for name, extra in (("off", []), ("on", ["--configfile", str(TINY), str(overlay)])):
        r = snakemake(snakemake_bin, tmp_path / "wd", "-n", "-p", *extra, timeout=300)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        plans[name] = r.stdout
    assert "evaluate_sampled" not in plans["off"]
    jobs = {w for rule, w in planned_jobs(plans["on"]) if rule == "evaluate_sampled"}
    assert len(jobs) == 8 and all("method=ppo" in w for w in jobs)
    assert plans["on"].count("psmarl evaluate-sampled --spec") == 8
    assert "--out-dir results/runs/multiwalker/ppo/shared/seed0/eval_sampled" in plans["on"]


@pytest.mark.slow
def test_every_method_trains_and_evaluates_through_the_workflow(snakemake_bin, tmp_path):
    """The paper's whole grid (its 23 (env, method) pairs; PPO in both modes, every other
    method in one, each env in both: 26 runs) at tiny budgets: every run is trained by the
    `train` rule, evaluated, and in the tables and Figures 3/4. Each method's own tests
    (tests/test_methods_*.py) train and evaluate it in both modes."""
    r = snakemake(
        snakemake_bin,
        tmp_path,
        "--cores",
        "2",
        configfile=REPO / "tests" / "data" / "tiny_all.yaml",
        timeout=1800,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    summary = pd.read_csv(tmp_path / "results" / "tables" / "summary.csv")
    assert len(summary) == 26
    assert set(summary.loc[summary["method"] == "ppo", "sharing"]) == {"shared", "independent"}
    assert summary["eval_mean"].notna().all() and summary["best_avg_total_reward"].notna().all()
    per_env = summary.groupby("env")["method"].apply(set).to_dict()
    assert per_env["pursuit"] == {"ppo", "impala", "a2c", "trpo", "dqn", "rainbow", "apex_dqn"}
    for env in ("waterworld", "multiwalker"):
        assert per_env[env] == {"ppo", "impala", "a2c", "trpo", "sac", "td3", "ddpg", "apex_ddpg"}
    for fig in (3, 4):
        for env in ("pursuit", "waterworld", "multiwalker"):
            assert (tmp_path / "results" / "figures" / f"figure{fig}_{env}.png").stat().st_size > 0
