"""scripts/prove_images.sh (builds every stage image and runs the tiny workflow inside them)
is too heavy for CI: these fast tests check that it, its config overlay, the recipes and the
workflow rules agree, and that its comparison can fail. Its recorded results live in
docs/data/prove_images.{json,md}."""

from __future__ import annotations

import copy
import importlib.util
import json

import pandas as pd
import pytest
import yaml
from conftest import REPO

from psmarl import cluster
from psmarl import config as pscfg

SCRIPT = REPO / "scripts" / "prove_images.py"


@pytest.fixture(scope="module")
def prove():
    spec = importlib.util.spec_from_file_location("prove_images", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def merged(prove):
    """The config the script runs: its config files merged as Snakemake merges them."""
    from snakemake.utils import update_config

    cfg: dict = {}
    for f in prove.CONFIGS:
        update_config(cfg, yaml.safe_load(f.read_text()))
    return cfg


def test_script_is_not_part_of_the_test_command():
    for f in ("test.sh", ".ci/run", "run.sh"):
        assert "prove_images" not in (REPO / f).read_text(), f
    text = (REPO / "scripts" / "prove_images.sh").read_text()
    assert "NOT part of ./test.sh" in text and "scripts/prove_images.py" in text


def test_config_runs_the_jobs_the_issue_asks_for(merged):
    pscfg.schema_validate(merged)
    pscfg.validate(merged)
    jobs = pscfg.train_jobs(merged)
    envs = {"pursuit", "waterworld", "multiwalker", "speaker_listener"}
    by_method = {}
    for env, method, sharing, _ in jobs:
        by_method.setdefault(method, set()).add((env, sharing))
    # PPO and an off-policy method on every env, both sharing modes
    assert {e for e, _ in by_method["ppo"]} == envs
    off_policy = {e for m in ("dqn", "sac") for e, _ in by_method.get(m, ())}
    assert off_policy == envs
    assert {s for m in ("ppo", "dqn", "sac") for _, s in by_method[m]} == {"shared", "independent"}
    # MADDPG and QMIX on one env
    for m in ("maddpg", "qmix"):
        assert len({e for e, _ in by_method[m]}) == 1, m
    assert cluster.used_stages(jobs) == list(cluster.STAGES)


def test_every_recipe_is_built(prove):
    assert set(cluster.STAGES) == {p.stem for p in (REPO / "containers").glob("*.def")}
    assert "cluster.STAGES" in SCRIPT.read_text()


def test_trace_check_expects_the_image_each_rule_names(prove):
    """The script's check of the traced container calls reads the rules' container:."""
    stages = prove.subcommand_stages()
    assert {
        "train",
        "evaluate",
        "random-baseline",
        "aggregate",
        "statistics",
        "theory",
        "config-record",
        "paper-figure",
    } <= set(stages)
    assert set(stages.values()) <= {*cluster.STAGES, "method"}, stages
    assert stages["train"] == stages["evaluate"] == "method"
    assert stages["random-baseline"] == "rl"
    assert "marl-train" not in stages  # BenchMARL's runs are the train rule's too
    assert stages["aggregate"] == stages["theory"] == "analysis"
    for sub in ("train", "evaluate"):
        for method in ("ppo", "sac", "maddpg", "qmix"):
            cmd = [f"psmarl {sub} --spec x --run-dir results/runs/pursuit/{method}/shared/seed0"]
            assert prove.expected_stage(cmd) == (sub, cluster.stage_of_method(method))
    assert prove.expected_stage(["bash", "-c", "psmarl statistics --root results"]) == (
        "statistics",
        "analysis",
    )


def test_comparison_ignores_wall_clock_and_catches_a_changed_value(prove, tmp_path):
    a = pd.DataFrame(
        {"iteration": [1, 2], "wall_seconds": [1.0, 2.0], "avg_total_reward": [0.5, 0.25]}
    )
    b = a.assign(wall_seconds=[3.0, 4.0])
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    assert prove.compare_file(tmp_path / "a.csv", tmp_path / "b.csv") == "same"
    b.assign(avg_total_reward=[0.5, 0.25 + 1e-12]).to_csv(tmp_path / "b.csv", index=False)
    assert prove.compare_file(tmp_path / "a.csv", tmp_path / "b.csv").startswith(
        "differs: avg_total_reward"
    )
    assert prove.compare_file(tmp_path / "a.csv", tmp_path / "nope.csv") == "missing"
    ja = {"mean": 1.0, "time_total_s": 3}
    (tmp_path / "a.json").write_text(json.dumps(ja))
    (tmp_path / "b.json").write_text(json.dumps({**ja, "time_total_s": 4}))
    assert prove.compare_file(tmp_path / "a.json", tmp_path / "b.json") == "same"
    (tmp_path / "b.json").write_text(json.dumps({**ja, "mean": 2.0}))
    assert prove.compare_file(tmp_path / "a.json", tmp_path / "b.json") == "differs: mean"


def test_trace_check_flags_the_hosts_python(prove, tmp_path):
    tags = {s: f"localhost/psmarl-{s}:x" for s in cluster.STAGES}
    good = {
        "image": tags["rl"],
        "psmarl": "/opt/venv/bin/psmarl",
        "python": "/opt/venv/bin/python3 /opt/venv 3.11.2",
        "command": [
            "bash",
            "-c",
            "psmarl train --spec x --run-dir results/runs/pursuit/ppo/shared/seed0",
        ],
    }
    bad = copy.deepcopy(good)
    bad.update(psmarl="/work/.venv/bin/psmarl", python="/work/.venv/bin/python /work/.venv 3.11")
    wrong = {**good, "image": tags["marl"]}
    trace = tmp_path / "t.jsonl"
    trace.write_text("\n".join(json.dumps(c) for c in (good, bad, wrong)) + "\n")
    r = prove.check_trace(trace, tags)
    assert r["calls"] == 3 and len(r["problems"]) == 2
    assert any("not the rl image" in p for p in r["problems"])


def test_recorded_results_cover_every_stage():
    rec = json.loads((REPO / "docs" / "data" / "prove_images.json").read_text())
    assert set(rec["images"]) == set(cluster.STAGES)
    assert rec["date"] and rec["machine"] and rec["commit"]
    md = (REPO / "docs" / "data" / "prove_images.md").read_text()
    assert rec["verdict"] in md
