"""config/learning_check.yaml: the learning check's grid, budgets and settings (issue 15)."""

from __future__ import annotations

import json
import re
import subprocess

import pandas as pd
import pytest
from conftest import REPO

from psmarl import config as cfg
from psmarl import kept_runs, results

OVERLAY = REPO / "config" / "learning_check.yaml"
BUDGETS = REPO / "docs" / "data" / "learning_check_budgets.csv"
#: keys a learning-check run may differ in from the paper's run of the same job
NOT_THE_PAPERS = ("budget", "runtime", "checkpoint_every")


def merged(*files) -> dict:
    data = cfg.load_merged(files)
    cfg.drop_left_out(data)
    cfg.schema_validate(data)
    cfg.validate(data)
    return data


@pytest.fixture(scope="module")
def check() -> dict:
    return merged(REPO / "config" / "paper.yaml", OVERLAY)


def test_the_check_trains_the_paper_grid_once_in_both_modes(check):
    paper = cfg.load(REPO / "config" / "paper.yaml")
    paper_grid = {
        (env, m)
        for env in ("pursuit", "waterworld", "multiwalker")
        for m in cfg.methods.sections(paper)
        if env in (paper["methods"][m].get("envs") or [env])
    }
    jobs = cfg.train_jobs(check)
    assert len(paper_grid) == 23 and len(jobs) == 46
    assert {(e, m) for e, m, _, _ in jobs} == paper_grid
    assert {(s, seed) for _, _, s, seed in jobs} == {("shared", 0), ("independent", 0)}


def test_each_budget_is_the_one_recorded_with_its_reason(check):
    table = pd.read_csv(BUDGETS)
    assert table["reason"].str.len().gt(20).all()
    recorded = {(r.env, r.method): int(r.budget) for r in table.itertuples()}
    got = {}
    for env, method, sharing, seed in cfg.train_jobs(check):
        got[(env, method)] = cfg.train_spec(check, env, method, sharing, seed)["budget"]
    assert got == {k: {"env_steps": v} for k, v in recorded.items()}


def test_every_run_has_the_paper_s_settings_but_budget_and_machine(check):
    paper = merged(REPO / "config" / "paper.yaml")
    for job in cfg.train_jobs(check):
        ours, theirs = cfg.train_spec(check, *job), cfg.train_spec(paper, *job)
        for key in NOT_THE_PAPERS:
            ours.pop(key), theirs.pop(key)
        assert ours == theirs, job
    spec = cfg.train_spec(check, "pursuit", "ppo", "shared", 0)
    assert spec["runtime"]["num_cpus"] == 2
    assert cfg.eval_spec(check, "pursuit")["episodes"] == 100


def _dry_run(snakemake_bin, workdir, *targets) -> subprocess.CompletedProcess:
    """Snakemake's plan (-n -p) of the check, through the overlay, in ``workdir``."""
    return subprocess.run(
        [
            snakemake_bin,
            "-s",
            str(REPO / "workflow" / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(REPO / "config" / "paper.yaml"),
            str(OVERLAY),
            "-n",
            "-p",
            *targets,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_snakemake_plans_the_check_through_the_overlay(snakemake_bin, tmp_path):
    """Snakemake merges the two files and psmarl leaves out what the overlay nulls."""
    r = _dry_run(snakemake_bin, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    specs = [json.loads(s) for s in re.findall(r"--spec '(\{.*?\})'", r.stdout)]
    specs = [s for s in specs if "budget" in s]  # the training jobs' (not evaluations')
    assert len(specs) == 46
    assert "speaker_listener" not in r.stdout
    assert {json.dumps(s["budget"]) for s in specs} <= {
        json.dumps({"env_steps": int(b)}) for b in pd.read_csv(BUDGETS)["budget"]
    }


def test_unkept_targets_name_only_the_runs_not_kept_finished(check, tmp_path, capsys):
    """On a fresh machine the kept runs (without checkpoints) are not trained again."""
    files = [REPO / "config" / "paper.yaml", OVERLAY]
    assert kept_runs.merged_config(files) == check
    kept = tmp_path / "kept"
    for job, parts in {
        ("pursuit", "ppo", "shared", 0): ("eval", "eval_sampled"),  # kept whole
        ("pursuit", "ppo", "independent", 0): ("eval",),  # its sampled plays are missing
        ("waterworld", "ddpg", "shared", 0): ("eval",),  # kept whole: no sampled plays
    }.items():
        for part in parts:
            f = kept / results.run_dir(*job) / part / "summary.json"
            f.parent.mkdir(parents=True)
            f.write_text("{}")
    (kept / results.baseline_summary_json("idle", "pursuit")).parent.mkdir(parents=True)
    (kept / results.baseline_summary_json("idle", "pursuit")).write_text("{}")
    targets = kept_runs.unkept_targets(files, kept)
    root = check["results_dir"]
    # first the baselines not kept (each env's random and idle ones, but pursuit's idle)
    baselines = [
        f"{root}/{results.random_summary_json('pursuit')}",
        f"{root}/{results.random_summary_json('waterworld')}",
        f"{root}/{results.baseline_summary_json('idle', 'waterworld')}",
        f"{root}/{results.random_summary_json('multiwalker')}",
        f"{root}/{results.baseline_summary_json('idle', 'multiwalker')}",
    ]
    assert targets[: len(baselines)] == baselines
    targets_of_runs = targets[len(baselines) :]
    runs = {t.removeprefix(f"{root}/").rsplit("/", 2)[0] for t in targets_of_runs}
    assert len(runs) == 44
    assert results.run_dir("pursuit", "ppo", "shared", 0) not in runs
    assert results.run_dir("waterworld", "ddpg", "shared", 0) not in runs
    ppo_independent = f"{root}/{results.run_dir('pursuit', 'ppo', 'independent', 0)}"
    assert f"{ppo_independent}/eval_sampled/summary.json" in targets
    assert f"{root}/{results.eval_summary_json('waterworld', 'ddpg', 'independent', 0)}" in (
        targets
    )
    sampled = {t for t in targets if "/eval_sampled/" in t}
    assert len(sampled) == len(cfg.sampled_eval_jobs(check)) - 1
    assert all(t.startswith(f"{root}/runs/") for t in targets_of_runs)

    from psmarl.cli import main

    main(["unkept-targets", "--configfile", *map(str, files), "--kept", str(kept)])
    assert capsys.readouterr().out.split() == targets


@pytest.mark.slow
def test_snakemake_plans_only_the_unkept_runs(snakemake_bin, tmp_path):
    """The targets of psmarl unkept-targets are outputs of the workflow's rules: asked for,
    Snakemake plans the runs not kept and no other."""
    files = [REPO / "config" / "paper.yaml", OVERLAY]
    kept = tmp_path / "kept"
    for part in ("eval", "eval_sampled"):
        f = kept / results.run_dir("pursuit", "ppo", "shared", 0) / part / "summary.json"
        f.parent.mkdir(parents=True)
        f.write_text("{}")
    work = tmp_path / "work"
    work.mkdir()
    r = _dry_run(snakemake_bin, work, *kept_runs.unkept_targets(files, kept))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    specs = [json.loads(s) for s in re.findall(r"--spec '(\{.*?\})'", r.stdout)]
    trained = {(s["env"]["name"], s["method"], s["sharing"]) for s in specs if "budget" in s}
    assert len(trained) == 45
    assert ("pursuit", "ppo", "shared") not in trained
    assert "aggregate" not in r.stdout  # the check's own table, not the study's report
    # and every env's two baselines, none of which is kept here
    planned = re.findall(r"^rule (\w+):", r.stdout, re.MULTILINE)
    assert planned.count("random_baseline") == planned.count("idle_baseline") == 3


STUB_PSMARL = r'''#!/usr/bin/env python3
"""psmarl as the script calls it: runs a and b, each with one target; a log of calls."""
import pathlib, shutil, sys
ROOT = "results/learning_check/"
RUNS = [ROOT + "runs/e/a/shared/seed0", ROOT + "runs/e/b/shared/seed0"]
kept = pathlib.Path("docs/reproduction/learning_check")
with open("calls.log", "a") as log:
    log.write(" ".join(sys.argv[1:3]) + "\n")
if sys.argv[1] == "unkept-targets":
    for run in RUNS:
        if not (kept / run.removeprefix(ROOT) / "eval").exists():
            print(f"{run}/eval/summary.json")
elif sys.argv[1] == "keep-runs" and not pathlib.Path("keep_nothing").exists():
    for run in RUNS:
        if pathlib.Path(run, "eval").exists():
            shutil.copytree(run, kept / run.removeprefix(ROOT), dirs_exist_ok=True)
'''


@pytest.mark.parametrize("keeps", [True, False])
def test_the_continue_script_trains_and_keeps_one_run_at_a_time(tmp_path, keeps):
    """scripts/continue_learning_check.sh, its loop alone (psmarl and ./run.sh stubbed): one
    ./run.sh per unkept run with that run's targets, each kept before the next; a run that
    is trained but not kept stops it (no loop for ever)."""
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "continue_learning_check.sh"
    script.write_text((REPO / "scripts" / "continue_learning_check.sh").read_text())
    (tmp_path / "scripts" / "setup.sh").write_text("#!/bin/sh\n")
    (tmp_path / "run.sh").write_text(
        '#!/bin/sh\necho "run.sh $*" >> calls.log\n'
        'for t in "$@"; do case $t in results/*) mkdir -p "${t%/*}"; : > "$t";; esac; done\n'
    )
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "psmarl").write_text(STUB_PSMARL)
    for f in (script, tmp_path / "scripts" / "setup.sh", tmp_path / "run.sh"):
        f.chmod(0o755)
    (tmp_path / ".venv" / "bin" / "psmarl").chmod(0o755)
    if not keeps:
        (tmp_path / "keep_nothing").write_text("")
    r = subprocess.run([str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    calls = (tmp_path / "calls.log").read_text().splitlines()
    runs = [c for c in calls if c.startswith("run.sh")]
    if keeps:
        assert r.returncode == 0, r.stderr
        assert [c.split()[1] for c in runs] == [
            "results/learning_check/runs/e/a/shared/seed0/eval/summary.json",
            "results/learning_check/runs/e/b/shared/seed0/eval/summary.json",
        ]
        assert all("--configfile config/paper.yaml config/learning_check.yaml" in c for c in runs)
        assert calls.index(runs[1]) > calls.index("keep-runs --finished-only")
        assert "every run of the check is kept" in r.stdout
    else:
        assert r.returncode == 1 and len(runs) == 1
        assert "not kept in docs/reproduction/learning_check: stopping" in r.stderr
