"""Training: RLlib PPO in both sharing modes, resume after SIGKILL (slow)."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from psmarl import config as cfg
from psmarl import results
from psmarl.errors import ConfigError
from psmarl.run_loop import check_budget, summarize_progress
from psmarl.train import agent_to_module, resolve_runtime


def test_agent_to_module_modes():
    agents = ["a_0", "a_1"]
    assert agent_to_module(agents, "shared") == {"a_0": "shared", "a_1": "shared"}
    assert agent_to_module(agents, "independent") == {"a_0": "a_0", "a_1": "a_1"}
    with pytest.raises(ConfigError, match="sharing"):
        agent_to_module(agents, "both")


@pytest.mark.parametrize(
    "budget", [{}, {"env_steps": 0}, {"episodes": 1.5}, {"episodes": 2, "iterations": 1}]
)
def test_check_budget_rejects(budget):
    with pytest.raises(ConfigError, match="training.budget"):
        check_budget(budget)


def test_summarize_progress_picks_maximum():
    df = pd.DataFrame(
        {
            "iteration": [1, 2, 3],
            "episodes": [0, 4, 9],
            "avg_total_reward": [float("nan"), 5.0, 3.0],
        }
    )
    s = summarize_progress(df)
    assert s == {
        "best_avg_total_reward": 5.0,
        "episodes_at_best": 4,
        "final_avg_total_reward": 3.0,
        # no paper_* columns: the paper's measure is psmarl's
        "paper_best_avg_total_reward": 5.0,
        "paper_episodes_at_best": 4,
    }


def test_resolve_runtime_scales_auto_to_the_cores_given():
    auto = {"num_cpus": 2, "num_env_runners": "auto", "num_envs_per_env_runner": "auto"}
    assert resolve_runtime(auto) == {
        "num_cpus": 2,
        "num_env_runners": 2,
        "num_envs_per_env_runner": 8,
        "num_gpus": 0,
    }
    # Snakemake gave the job fewer cores than asked: sample in the training process
    assert resolve_runtime(auto, cores=1)["num_env_runners"] == 0
    assert resolve_runtime(auto, cores=6)["num_env_runners"] == 6
    assert resolve_runtime({})["num_env_runners"] == 0  # num_cpus defaults to 1
    # explicit values are kept whatever the cores (paper.yaml: Table 4's 8 x 8)
    paper = {"num_cpus": 9, "num_env_runners": 8, "num_envs_per_env_runner": 8, "num_gpus": 1}
    assert resolve_runtime(paper, cores=2) == {**paper, "num_cpus": 2}


@pytest.mark.parametrize(
    "runtime, key",
    [
        ({"num_env_runners": "many"}, "training.runtime.num_env_runners"),
        ({"num_envs_per_env_runner": 0}, "training.runtime.num_envs_per_env_runner"),
        ({"num_gpus": -1}, "training.runtime.num_gpus"),
    ],
)
def test_resolve_runtime_names_a_bad_key(runtime, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        resolve_runtime(runtime)


def test_schema_takes_auto_runtime_and_rejects_other_words():
    from conftest import REPO

    c = cfg.load(REPO / "config" / "config.yaml")
    assert c["training"]["runtime"]["num_env_runners"] == "auto"
    cfg.schema_validate(c)
    c["training"]["runtime"]["num_env_runners"] = "many"
    with pytest.raises(ConfigError, match="num_env_runners"):
        cfg.schema_validate(c)


@pytest.mark.slow
def test_train_with_remote_runners_on_the_cores_given(tmp_path, tiny_config, psmarl_bin):
    """`--cores 2` with auto runners: two sampling processes, recorded in the summary."""
    c = json.loads(json.dumps(tiny_config))
    c["training"]["runtime"] = {
        "num_cpus": 1,
        "num_env_runners": "auto",
        "num_envs_per_env_runner": "auto",
    }
    c["training"]["budget"] = {"iterations": 2}
    spec = cfg.train_spec(c, "waterworld", "ppo", "shared", 0)
    run = tmp_path / "run"
    r = subprocess.run(
        [psmarl_bin, "train", "--spec", json.dumps(spec), "--run-dir", str(run), "--cores", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 env runner process(es) x 8 envs" in r.stderr
    from psmarl.envs import backend_of

    backend = backend_of(spec["env"])  # the paper preset's own backend
    assert f"env: waterworld (paper preset, {backend} backend)" in r.stderr
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["backend"] == backend
    assert summary["runtime"] == {
        "num_cpus": 2,
        "num_env_runners": 2,
        "num_envs_per_env_runner": 8,
        "num_gpus": 0,
    }
    assert summary["iterations"] == 2 and summary["env_steps"] >= 200


def _spec(tiny_config, env, sharing, iterations, every=1):
    c = json.loads(json.dumps(tiny_config))
    c["training"]["budget"] = {"iterations": iterations}
    c["training"]["checkpoint_every"] = every
    return cfg.train_spec(c, env, "ppo", sharing, 0)


@pytest.mark.slow
def test_train_writes_outputs_and_resumes_after_sigkill(tmp_path, tiny_config, psmarl_bin):
    spec = _spec(tiny_config, "pursuit", "independent", iterations=8, every=2)
    run = tmp_path / "run"
    cmd = [psmarl_bin, "train", "--spec", json.dumps(spec), "--run-dir", str(run)]
    meta = run / ".work" / "checkpoint" / results.RUN_META
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, start_new_session=True, text=True)
    deadline = time.time() + 180
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        if meta.exists() and json.loads(meta.read_text())["iteration"] >= 2:
            time.sleep(0.5)  # let it get past the checkpoint into later iterations
            os.killpg(proc.pid, signal.SIGKILL)
            killed_at = json.loads(meta.read_text())["iteration"]
            break
        time.sleep(0.1)
    proc.wait()
    assert killed_at is not None, "training finished before it could be interrupted"
    assert not (run / "progress.csv").exists() and not (run / "checkpoint").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed from iteration {killed_at}" in done.stderr
    prog = pd.read_csv(run / "progress.csv")
    assert list(prog["iteration"]) == list(range(1, 9))
    assert prog["env_steps"].is_monotonic_increasing
    assert (prog["env_steps"].diff().dropna() > 0).all()
    for col in ["iteration", "env_steps", "episodes", "wall_seconds", "avg_total_reward"]:
        assert col in prog.columns
    assert "pursuer_0/return_mean" in prog.columns  # per-module figures
    # avg_total_reward is a window over the last 100 episodes: once an episode has
    # finished it never goes back to NaN, across the resume too
    first = prog["avg_total_reward"].first_valid_index()
    assert first is not None and prog.loc[first:, "avg_total_reward"].notna().all()
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["iterations"] == 8 and len(summary["modules"]) == 8
    assert (run / "checkpoint" / results.RUN_META).exists()
    assert not (run / ".work").exists()


@pytest.mark.slow
def test_shared_training_then_deterministic_evaluation(tmp_path, tiny_config, psmarl_bin):
    spec = _spec(tiny_config, "multiwalker", "shared", iterations=2)
    run = tmp_path / "run"
    r = subprocess.run(
        [psmarl_bin, "train", "--spec", json.dumps(spec), "--run-dir", str(run)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    meta = results.read_json(run / "checkpoint" / results.RUN_META)
    assert set(meta["agent_to_module"].values()) == {"shared"}
    espec = cfg.eval_spec(tiny_config, "multiwalker")
    outs = []
    for k in range(2):
        out = tmp_path / f"eval{k}"
        r = subprocess.run(
            [
                psmarl_bin,
                "evaluate",
                "--spec",
                json.dumps(espec),
                "--checkpoint",
                str(run / "checkpoint"),
                "--out-dir",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        outs.append(pd.read_csv(out / "episodes.csv"))
    pd.testing.assert_frame_equal(outs[0], outs[1])  # deterministic actions, recorded seeds
    assert list(outs[0]["seed"]) == [espec["seed"] + i for i in range(espec["episodes"])]
    # a play's returns do not depend on how plays are batched or split over processes
    # (continuous walkers: a last-bit change in an action would change the return)
    from psmarl.evaluate import PolicySpec, evaluate

    policy = PolicySpec("checkpoint", str(run / "checkpoint"))
    n = 6
    ref = evaluate(
        espec["env"],
        policy,
        n,
        seed=espec["seed"],
        workers=1,
        envs_per_worker=n,
        log=lambda m: None,
    )
    pd.testing.assert_frame_equal(ref.head(len(outs[0])), outs[0])
    for workers, n_envs in [(1, 1), (1, 4), (2, 2), (3, 8)]:
        df = evaluate(
            espec["env"],
            policy,
            n,
            seed=espec["seed"],
            workers=workers,
            envs_per_worker=n_envs,
            log=lambda m: None,
        )
        pd.testing.assert_frame_equal(df, ref, obj=f"{workers} workers x {n_envs} envs")
    # sampled actions (as training acts): other returns, the same whatever the split
    sampled = PolicySpec("checkpoint", str(run / "checkpoint"), sample_actions=True)
    plays = [
        evaluate(espec["env"], sampled, n, seed=espec["seed"], workers=w, envs_per_worker=k)
        for w, k in [(1, n), (2, 2)]
    ]
    pd.testing.assert_frame_equal(plays[0], plays[1])
    assert not np.allclose(plays[0]["total_reward"], ref["total_reward"])
    out = tmp_path / "eval_sampled"
    r = subprocess.run(
        [psmarl_bin, "evaluate-sampled", "--spec", json.dumps(espec)]
        + ["--checkpoint", str(run / "checkpoint"), "--out-dir", str(out), "--episodes", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["deterministic"] is False


def test_increment_uses_lifetime_counters_and_survives_nan():
    from psmarl.train import _increment

    nan = float("nan")
    r = {"env_runners": {"num_episodes": nan, "num_episodes_lifetime": 4.0}}
    assert _increment(r, "num_episodes", 0.0) == (4, 4.0)
    r = {"env_runners": {"num_episodes": nan, "num_episodes_lifetime": 4.0}}
    assert _increment(r, "num_episodes", 4.0) == (0, 4.0)
    # after a restore the previous lifetime is unknown: fall back to this iteration's count
    r = {"env_runners": {"num_episodes": 3}}
    assert _increment(r, "num_episodes", None) == (3, None)
    r = {"env_runners": {"num_episodes": nan}}
    assert _increment(r, "num_episodes", None) == (0, None)


@pytest.mark.slow
def test_same_seed_gives_the_same_run_through_the_cli(tmp_path):
    """`psmarl train` pins Python's hash seed (set iteration order inside RLlib decides
    which agent draws which random action), so two runs with one seed are identical."""
    import json
    import os
    import subprocess

    from psmarl import config as cfg

    c = cfg.load(Path(__file__).parent / "data" / "tiny.yaml")
    spec = json.dumps(cfg.train_spec(c, "pursuit", "ppo", "shared", 3))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    curves = []
    for i in range(2):
        run = tmp_path / f"run{i}"
        r = subprocess.run(
            ["psmarl", "train", "--spec", spec, "--run-dir", str(run)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        curves.append(pd.read_csv(run / "progress.csv"))
    cols = ["iteration", "env_steps", "episodes", "avg_total_reward"]
    pd.testing.assert_frame_equal(curves[0][cols], curves[1][cols])
