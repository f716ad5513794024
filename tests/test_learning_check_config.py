"""config/learning_check.yaml: the learning check's grid, budgets and settings (issue 15)."""

from __future__ import annotations

import json
import re
import subprocess

import pandas as pd
import pytest
from conftest import REPO

from psmarl import config as cfg
from psmarl.dicts import deep_merge

OVERLAY = REPO / "config" / "learning_check.yaml"
BUDGETS = REPO / "docs" / "data" / "learning_check_budgets.csv"
#: keys a learning-check run may differ in from the paper's run of the same job
NOT_THE_PAPERS = ("budget", "runtime", "checkpoint_every")


def merged(*files) -> dict:
    data: dict = {}
    for f in files:
        data = deep_merge(data, cfg.load(f))
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


@pytest.mark.slow
def test_snakemake_plans_the_check_through_the_overlay(snakemake_bin, tmp_path):
    """Snakemake merges the two files and psmarl leaves out what the overlay nulls."""
    r = subprocess.run(
        [
            snakemake_bin,
            "-s",
            str(REPO / "workflow" / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(REPO / "config" / "paper.yaml"),
            str(OVERLAY),
            "-n",
            "-p",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    specs = [json.loads(s) for s in re.findall(r"--spec '(\{.*?\})'", r.stdout)]
    specs = [s for s in specs if "budget" in s]  # the training jobs' (not evaluations')
    assert len(specs) == 46
    assert "speaker_listener" not in r.stdout
    assert {json.dumps(s["budget"]) for s in specs} <= {
        json.dumps({"env_steps": int(b)}) for b in pd.read_csv(BUDGETS)["budget"]
    }
