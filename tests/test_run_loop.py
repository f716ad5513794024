"""The backend-neutral run loop (psmarl.run_loop) with a toy backend: budget, rows,
windows, checkpoint cadence, resume after a crash at any iteration, publishing."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from psmarl import results
from psmarl.errors import ConfigError
from psmarl.run_loop import (
    Iteration,
    RunLoop,
    check_budget,
    format_duration,
    old_rllib_mean,
    summarize_progress,
)


class Crash(Exception):
    pass


class ToyBackend:
    """A 'learner' whose state is one number; iteration k samples 30 env steps and ends
    episodes with returns k, k+0.5 (the second one on a 'reporting' runner only)."""

    def __init__(self, restore: Path | None = None, crash_at: int | None = None):
        self.k = 0
        if restore is not None:
            self.k = json.loads((restore / "toy.json").read_text())["k"]
        self.crash_at = crash_at
        self.closed = False

    def run(self, record):
        while True:
            time.sleep(0.002)  # iterations take time (the speed curve needs it)
            self.k += 1
            if self.crash_at is not None and self.k == self.crash_at:
                raise Crash()
            step = Iteration(
                env_steps=30,
                episode_returns=[float(self.k), self.k + 0.5],
                paper_returns=[self.k + 0.5],
                samples_trained=12,
                columns={"shared/loss": 1.0 / self.k},
            )
            if record(step):
                return

    def save(self, folder: Path) -> None:
        (folder / "toy.json").write_text(json.dumps({"k": self.k}))

    def meta(self) -> dict:
        return {"agent_to_module": {"a": "shared", "b": "shared"}}

    def close(self) -> None:
        self.closed = True


SPEC = {
    "env": {"name": "toy", "preset": "paper"},
    "method": "toy",
    "sharing": "shared",
    "seed": 0,
    "budget": {"env_steps": 300},
    "checkpoint_every": 3,
}


def train(run: Path, crash_at: int | None = None, spec=SPEC) -> dict:
    loop = RunLoop(spec, run, log=lambda m: None, paper_window=4)
    ckpt = loop.start()
    return loop.train(ToyBackend(ckpt, crash_at))


def test_a_run_reaches_its_budget_and_publishes(tmp_path):
    s = train(tmp_path / "run")
    run = tmp_path / "run"
    assert s["iterations"] == 10 and s["env_steps"] == 300 and s["episodes"] == 20
    assert not (run / ".work").exists()
    df = pd.read_csv(run / "progress.csv")
    assert list(df["iteration"]) == list(range(1, 11))
    # psmarl's measure: every episode so far (fewer than 100)
    all_returns = [r for k in range(1, 11) for r in (k, k + 0.5)]
    assert df["avg_total_reward"].iloc[-1] == pytest.approx(np.mean(all_returns))
    # the paper's: the reporting runner's episodes, old RLlib's window of 4
    assert df["paper_avg_total_reward"].iloc[-1] == pytest.approx(np.mean([7.5, 8.5, 9.5, 10.5]))
    assert list(df["paper_episodes"]) == list(range(1, 11))
    assert list(df["samples_trained"]) == [12 * k for k in range(1, 11)]
    assert df["shared/loss"].iloc[1] == pytest.approx(0.5)
    assert json.loads((run / "checkpoint" / "toy.json").read_text()) == {"k": 10}
    meta = results.read_json(run / "checkpoint" / results.RUN_META)
    assert meta["iteration"] == 10 and meta["agent_to_module"]["a"] == "shared"
    summary = results.read_json(run / "train_summary.json")
    assert summary["modules"] == ["shared"]
    assert summary["best_avg_total_reward"] == pytest.approx(df["avg_total_reward"].max())


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4, 7, 10])
def test_a_crash_at_any_iteration_resumes_without_lost_or_repeated_rows(tmp_path, crash_at):
    ref = train(tmp_path / "ref")
    with pytest.raises(Crash):
        train(tmp_path / "run", crash_at=crash_at)
    assert not (tmp_path / "run" / "train_summary.json").exists()
    s = train(tmp_path / "run")
    a = pd.read_csv(tmp_path / "ref" / "progress.csv").drop(columns="wall_seconds")
    b = pd.read_csv(tmp_path / "run" / "progress.csv").drop(columns="wall_seconds")
    pd.testing.assert_frame_equal(a, b)
    assert {k: s[k] for k in ("iterations", "env_steps", "episodes")} == {
        k: ref[k] for k in ("iterations", "env_steps", "episodes")
    }


def test_a_torn_progress_line_is_dropped_on_resume(tmp_path):
    with pytest.raises(Crash):
        train(tmp_path / "run", crash_at=5)
    with open(tmp_path / "run" / ".work" / "progress.jsonl", "a") as fh:
        fh.write('{"iteration": 5, "env_st')  # a kill inside a write
    train(tmp_path / "run")
    df = pd.read_csv(tmp_path / "run" / "progress.csv")
    assert list(df["iteration"]) == list(range(1, 11))


def test_a_run_whose_last_checkpoint_met_the_budget_only_publishes(tmp_path, monkeypatch):
    def killed(self, extra=None):
        raise Crash()

    with monkeypatch.context() as m:  # killed after the last checkpoint, before publishing
        m.setattr(RunLoop, "publish", killed)
        with pytest.raises(Crash):
            train(tmp_path)
    assert not (tmp_path / "train_summary.json").exists()

    class MustNotTrain(ToyBackend):
        def run(self, record):
            raise AssertionError("trained past the budget")

    loop = RunLoop(SPEC, tmp_path, log=lambda m: None)
    s = loop.train(MustNotTrain(loop.start()))
    assert s["iterations"] == 10 and (tmp_path / "train_summary.json").exists()
    assert len(pd.read_csv(tmp_path / "progress.csv")) == 10


def test_a_checkpoint_of_other_settings_is_kept_aside_and_the_run_trains_afresh(tmp_path):
    """A setting changed while a run was unfinished (Snakemake reruns the job: its params
    changed) must not continue a run trained without it; what was computed is kept."""
    run = tmp_path / "run"
    with pytest.raises(Crash):
        train(run, crash_at=8)  # last checkpoint at iteration 6
    changed = {**SPEC, "method_settings": {"lr": 1e-4}}
    logs: list[str] = []
    loop = RunLoop(changed, run, log=logs.append, paper_window=4)
    ckpt = loop.start()
    assert ckpt is None and loop.it == 0
    (aside,) = run.glob(".work-superseded-*")
    assert json.loads((aside / "checkpoint" / "toy.json").read_text()) == {"k": 6}
    assert len((aside / "progress.jsonl").read_text().splitlines()) == 7
    assert "method_settings: '<absent>' -> {'lr': 0.0001}" in logs[-1]
    assert str(aside) in logs[-1] and "training afresh" in logs[-1]
    s = loop.train(ToyBackend(ckpt))
    train(tmp_path / "ref", spec=changed)
    a = pd.read_csv(run / "progress.csv").drop(columns="wall_seconds")
    b = pd.read_csv(tmp_path / "ref" / "progress.csv").drop(columns="wall_seconds")
    pd.testing.assert_frame_equal(a, b)  # from iteration 1, as a run that never crashed
    assert s["spec"] == changed and aside.is_dir()


@pytest.mark.parametrize(
    "change",
    [
        {"budget": {"env_steps": 600}},
        {"checkpoint_every": 2},
        {"runtime": {"num_cpus": 8}},
    ],
)
def test_budget_cadence_and_runtime_may_change_on_resume(tmp_path, change):
    run = tmp_path / "run"
    with pytest.raises(Crash):
        train(run, crash_at=8)
    loop = RunLoop({**SPEC, **change}, run, log=lambda m: None, paper_window=4)
    assert loop.start() is not None and loop.it == 6
    assert not list(run.glob(".work-superseded-*"))


def test_a_checkpoint_without_a_spec_resumes(tmp_path):
    """Checkpoints written before the spec was kept in them have nothing to compare."""
    run = tmp_path / "run"
    with pytest.raises(Crash):
        train(run, crash_at=5)
    meta_file = run / ".work" / "checkpoint" / results.RUN_META
    meta = json.loads(meta_file.read_text())
    del meta["spec"]
    meta_file.write_text(json.dumps(meta))
    loop = RunLoop({**SPEC, "seed": 3}, run, log=lambda m: None)
    assert loop.start() is not None and loop.it == 3


def test_spec_changes_name_each_changed_setting():
    from psmarl.run_loop import spec_changes

    a = {**SPEC, "method_settings": {"training": {"lr": 5e-5, "gamma": 0.99}}}
    b = {**SPEC, "budget": {"env_steps": 1}, "method_settings": {"training": {"lr": 1e-4}}}
    assert spec_changes(a, b) == {
        "method_settings.training.gamma": (0.99, "<absent>"),
        "method_settings.training.lr": (5e-5, 1e-4),
    }
    assert spec_changes(a, a) == {} and spec_changes(None, b) == {}
    assert spec_changes({**a, "seed": 0}, {**a, "seed": 1}) == {"seed": (0, 1)}


@pytest.mark.parametrize("leftover", [False, True])
def test_a_job_started_again_after_publishing_trains_nothing(tmp_path, leftover):
    """A kill after publishing (during the backend's shutdown, or inside the removal of
    .work) must not make the next start train the finished run again from scratch."""
    run = tmp_path / "run"
    first = train(run)
    if leftover:  # the removal of .work was cut: its checkpoint lost RUN_META first
        (run / ".work" / "checkpoint").mkdir(parents=True)
        (run / ".work" / "checkpoint" / "toy.json").write_text("{}")
    logs: list[str] = []
    loop = RunLoop(SPEC, run, log=logs.append, paper_window=4)
    again = loop.published()
    assert again is not None and again["iterations"] == first["iterations"] == 10
    assert "already complete" in logs[0] and not (run / ".work").exists()
    # another spec's outputs, or damaged ones, are not this run: it trains
    assert RunLoop({**SPEC, "seed": 1}, run, log=lambda m: None).published() is None
    csv = run / "progress.csv"
    csv.write_text(csv.read_text()[:-40])
    assert RunLoop(SPEC, run, log=lambda m: None).published() is None


def _as_snakemake_reruns(run: Path) -> None:
    """What Snakemake does before it starts a job again: delete the job's outputs."""
    shutil.rmtree(run / "checkpoint")
    (run / "progress.csv").unlink()
    (run / "train_summary.json").unlink()


def test_a_raised_budget_continues_the_finished_run(tmp_path):
    """Raising training.budget reruns the job (its params changed) and Snakemake deletes
    its outputs first: the run continues from its kept final state, as one long run."""
    run = tmp_path / "run"
    train(run)  # 10 iterations
    assert (results.final_state_dir(run) / "checkpoint" / "toy.json").exists()
    _as_snakemake_reruns(run)
    longer = {**SPEC, "budget": {"env_steps": 450}}
    logs: list[str] = []
    loop = RunLoop(longer, run, log=logs.append, paper_window=4)
    ckpt = loop.start()
    assert ckpt is not None and loop.it == 10
    assert any("continuing the finished run from iteration 10" in m for m in logs), logs
    s = loop.train(ToyBackend(ckpt))
    assert s["iterations"] == 15 and s["spec"]["budget"] == {"env_steps": 450}
    train(tmp_path / "ref", spec=longer)
    a = pd.read_csv(run / "progress.csv").drop(columns="wall_seconds")
    b = pd.read_csv(tmp_path / "ref" / "progress.csv").drop(columns="wall_seconds")
    pd.testing.assert_frame_equal(a, b)  # the same rows as a run trained to 450 at once
    assert json.loads((run / "checkpoint" / "toy.json").read_text()) == {"k": 15}
    assert (
        results.read_json(results.final_state_dir(run) / "checkpoint" / results.RUN_META)[
            "iteration"
        ]
        == 15
    )


@pytest.mark.parametrize(
    "change,why",
    [
        ({}, "already reached the budget"),  # --forcerun: train it again
        ({"budget": {"env_steps": 150}}, "trained past the budget of 150 env_steps"),
        ({"budget": {"iterations": 4}}, "trained past the budget of 4 iterations (9 by"),
        ({"method_settings": {"lr": 1e-4}}, "trained with other settings"),
    ],
)
def test_a_finished_run_started_again_otherwise_trains_afresh(tmp_path, change, why):
    run = tmp_path / "run"
    train(run)
    _as_snakemake_reruns(run)
    spec = {**SPEC, **change}
    logs: list[str] = []
    loop = RunLoop(spec, run, log=logs.append, paper_window=4)
    assert loop.start() is None and loop.it == 0
    assert any("not continuing the finished run" in m and why in m for m in logs), logs
    assert not results.final_state_dir(run).exists()
    loop.train(ToyBackend(None))
    train(tmp_path / "ref", spec=spec)
    a = pd.read_csv(run / "progress.csv").drop(columns="wall_seconds")
    b = pd.read_csv(tmp_path / "ref" / "progress.csv").drop(columns="wall_seconds")
    pd.testing.assert_frame_equal(a, b)


def test_a_lowered_budget_does_not_resume_a_run_trained_past_it(tmp_path):
    """An unfinished run cut off at iteration 6 (of 10) whose budget is lowered to 3
    iterations' worth: its checkpoint is 3 iterations past the new budget, so it is kept
    aside and the run trains afresh. A budget that iteration 6 crossed resumes it."""
    run = tmp_path / "run"
    with pytest.raises(Crash):
        train(run, crash_at=8)  # last checkpoint at iteration 6
    logs: list[str] = []
    loop = RunLoop({**SPEC, "budget": {"env_steps": 90}}, run, log=logs.append)
    assert loop.start() is None
    assert "trained past the budget of 90 env_steps (150 by iteration 5)" in logs[-1], logs
    assert len(list(run.glob(".work-superseded-*"))) == 1

    run2 = tmp_path / "run2"
    with pytest.raises(Crash):
        train(run2, crash_at=8)
    loop = RunLoop({**SPEC, "budget": {"env_steps": 170}}, run2, log=lambda m: None)
    assert loop.start() is not None and loop.it == 6  # 150 < 170 <= 180: 6 is the last


def test_the_backend_is_closed_when_training_fails(tmp_path):
    loop = RunLoop(SPEC, tmp_path, log=lambda m: None)
    backend = ToyBackend(loop.start(), crash_at=2)
    with pytest.raises(Crash):
        loop.train(backend)
    assert backend.closed


def test_the_log_line_has_progress_speed_and_time_left(tmp_path):
    lines = []
    loop = RunLoop(SPEC, tmp_path, log=lines.append)
    loop.train(ToyBackend(loop.start()))
    assert len(lines) == 10
    assert "env_steps      150" in lines[4] and "50.0% of 300 env_steps" in lines[4]
    assert "steps/s" in lines[4] and "ETA " in lines[4]
    assert lines[-1].endswith("ETA 0s")


@pytest.mark.parametrize(
    "budget,key",
    [
        ({}, "training.budget"),
        ({"env_steps": 0}, "training.budget.env_steps"),
        ({"episodes": 1.5}, "training.budget.episodes"),
        ({"env_steps": 5, "iterations": 2}, "training.budget"),
    ],
)
def test_bad_budgets_name_the_key(budget, key):
    with pytest.raises(ConfigError) as e:
        check_budget(budget)
    assert e.value.key == key


def test_bad_checkpoint_cadence_names_the_key(tmp_path):
    with pytest.raises(ConfigError) as e:
        RunLoop({**SPEC, "checkpoint_every": 0}, tmp_path)
    assert e.value.key == "training.checkpoint_every"


def test_old_rllib_mean_tops_up_the_window_with_earlier_episodes():
    assert old_rllib_mean([1, 2, 3], [10], 3) == pytest.approx(np.mean([2, 3, 10]))
    assert old_rllib_mean([1, 2, 3], [10, 20, 30, 40], 3) == pytest.approx(25)
    assert np.isnan(old_rllib_mean([], [], 100))


def test_summaries_of_empty_and_paperless_curves():
    assert summarize_progress(pd.DataFrame())["best_avg_total_reward"] is None
    df = pd.DataFrame({"episodes": [5, 9], "avg_total_reward": [1.0, 3.0]})
    s = summarize_progress(df)
    assert s["paper_best_avg_total_reward"] == 3.0 and s["paper_episodes_at_best"] == 9


def test_durations():
    assert [format_duration(x) for x in (37.2, 252, 3900, float("nan"))] == [
        "37s",
        "4m12s",
        "1h05m",
        "?",
    ]


# ---------------------------------------------------------------- TensorBoard
def tensorboard_curve(run: Path, tag: str) -> list[tuple[int, float]]:
    """A tag's (step, value) points as TensorBoard shows them (its reader applies the
    purge of a resumed run)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / results.TENSORBOARD_DIR), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_tensorboard_has_every_progress_column_at_its_env_step(tmp_path):
    train(tmp_path)
    df = pd.read_csv(tmp_path / "progress.csv")
    steps = list(df["env_steps"])
    for column, tag in (
        ("avg_total_reward", "run/avg_total_reward"),
        ("paper_avg_total_reward", "run/paper_avg_total_reward"),
        ("shared/loss", "shared/loss"),
        ("episodes", "run/episodes"),
    ):
        curve = tensorboard_curve(tmp_path, tag)
        assert [s for s, _ in curve] == steps, tag
        np.testing.assert_allclose([v for _, v in curve], df[column], rtol=1e-6)
    speed = tensorboard_curve(tmp_path, "run/env_steps_per_s")
    assert len(speed) >= 9 and all(v > 0 for _, v in speed)


@pytest.mark.parametrize("crash_at", [2, 5, 10])
def test_tensorboard_curves_survive_a_crash_without_duplicate_or_missing_steps(tmp_path, crash_at):
    with pytest.raises(Crash):
        train(tmp_path, crash_at=crash_at)
    # the crashed attempt wrote points after its last checkpoint (iterations 4, 5; ...)
    train(tmp_path)
    df = pd.read_csv(tmp_path / "progress.csv")
    curve = tensorboard_curve(tmp_path, "run/avg_total_reward")
    assert [s for s, _ in curve] == list(df["env_steps"])
    np.testing.assert_allclose([v for _, v in curve], df["avg_total_reward"], rtol=1e-6)


def test_a_fresh_start_drops_old_event_files(tmp_path):
    train(tmp_path)
    for f in ("train_summary.json", "progress.csv"):
        (tmp_path / f).unlink()
    import shutil as _sh

    _sh.rmtree(tmp_path / "checkpoint")
    train(tmp_path)  # the workflow's --forcerun: the run starts again from nothing
    curve = tensorboard_curve(tmp_path, "run/avg_total_reward")
    assert [s for s, _ in curve] == [30 * k for k in range(1, 11)]


# ---------------------------------------------------------------- Weights & Biases (offline)
def wandb_history(run: Path) -> list[dict]:
    """The history rows of a run's offline W&B files. The .wandb file is a LevelDB-style log
    of protobuf Records (a 7-byte W&B header, then 32 KiB blocks of records, each with a
    7-byte header: crc32c, length, type FULL/FIRST/MIDDLE/LAST); wandb 0.31 has no Python
    reader of its own any more (its core is in Go)."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    rows = []
    for f in sorted(run.glob("wandb/wandb/offline-run-*/run-*.wandb")):
        data = f.read_bytes()
        assert data[:4] == b":W&B"
        pos, block, pending = 7, 32768, b""
        while pos + 7 <= len(data):
            left = block - pos % block
            if left < 7:  # block trailer
                pos += left
                continue
            _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
            if kind == 0:
                break
            chunk = data[pos + 7 : pos + 7 + length]
            pos += 7 + length
            pending = chunk if kind in (1, 2) else pending + chunk
            if kind in (1, 4):
                rec = pb.Record()
                rec.ParseFromString(pending)
                if rec.WhichOneof("record_type") == "history":
                    rows.append(
                        {
                            i.key or "/".join(i.nested_key): json.loads(i.value_json)
                            for i in rec.history.item
                        }
                    )
    return rows


@pytest.mark.slow
def test_wandb_offline_logs_the_same_curves_behind_its_switch(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    monkeypatch.delenv("PSMARL_WANDB", raising=False)
    train(tmp_path / "off")
    assert not (tmp_path / "off" / "wandb").exists()  # off by default

    monkeypatch.setenv("PSMARL_WANDB", json.dumps({"mode": "offline", "project": "t"}))
    train(tmp_path / "on")
    rows = wandb_history(tmp_path / "on")
    df = pd.read_csv(tmp_path / "on" / "progress.csv")
    assert [r["_step"] for r in rows] == list(df["env_steps"])
    np.testing.assert_allclose([r["run/avg_total_reward"] for r in rows], df["avg_total_reward"])
    assert rows[1]["shared/loss"] == pytest.approx(0.5)


def test_wandb_settings_are_checked():
    from psmarl.live_metrics import check_wandb

    assert check_wandb(None) is None and check_wandb({}) is None
    assert check_wandb({"project": "p"}) == {"project": "p", "mode": "offline"}
    with pytest.raises(ConfigError) as e:
        check_wandb({"mode": "cloud"})
    assert e.value.key == "wandb.mode"
    with pytest.raises(ConfigError) as e:
        check_wandb({"projekt": "p"})
    assert e.value.key == "wandb"
