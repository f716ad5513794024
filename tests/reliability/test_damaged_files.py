"""A damaged or cut-off file of a run is named, with how to redo it; never a wrong table
and never a traceback (issue 18, defects 2 and 6; ``psmarl.results`` checked readers)."""

import json
import subprocess

import pandas as pd
import pytest
from relhelpers import build_checkpoint, dumps, random_spec
from test_aggregate import make_random, make_run, make_study

from psmarl import aggregate as agg
from psmarl import figures, results
from psmarl.cli import main
from psmarl.errors import InputError

pytestmark = pytest.mark.reliability

JOB = ("pursuit", "ppo", "shared", 1)


def _study(tmp_path):
    """Two seeds of shared and independent PPO with 12-iteration curves (as the issue's)."""
    make_random(tmp_path, "pursuit", -1.0)
    jobs = []
    for sharing in ("shared", "independent"):
        for seed in (0, 1):
            make_run(
                tmp_path, "pursuit", "ppo", sharing, seed, [float(i) * 0.8 for i in range(12)], 5.0
            )
            jobs.append(("pursuit", "ppo", sharing, seed))
    return jobs


def _cut(path, keep: float):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _aggregate_error(tmp_path, jobs) -> str:
    with pytest.raises(InputError) as e:
        agg.aggregate(tmp_path, jobs, ["pursuit"], log=lambda m: None)
    assert not (tmp_path / results.SUMMARY_TABLE).exists()
    return str(e.value)


def test_progress_cut_inside_a_row_fails_aggregation(tmp_path):
    """The issue's case: before, the cut file gave 8 curve rows and a wrong final average."""
    jobs = _study(tmp_path)
    prog = tmp_path / results.progress_csv(*JOB)
    text = prog.read_text()
    prog.write_text(text[: text.index("\n9,") + 6])  # inside the row of iteration 9
    msg = _aggregate_error(tmp_path, jobs)
    assert str(prog) in msg and "ends inside a row (the file was cut off)" in msg
    assert f"--forcerun {prog}" in msg and "pursuit/ppo/shared/seed1" in msg


def test_progress_cut_at_a_row_boundary_fails_against_the_train_summary(tmp_path):
    jobs = _study(tmp_path)
    prog = tmp_path / results.progress_csv(*JOB)
    lines = prog.read_text().splitlines(keepends=True)
    prog.write_text("".join(lines[:9]))  # header + 8 complete rows
    msg = _aggregate_error(tmp_path, jobs)
    assert "has 8 row(s) of iterations, but" in msg
    assert str(tmp_path / results.train_summary_json(*JOB)) in msg and "says 12" in msg


def test_progress_whose_last_row_lost_digits_fails(tmp_path):
    """A cut that leaves a complete-looking last line: its env steps disagree."""
    jobs = _study(tmp_path)
    prog = tmp_path / results.progress_csv(*JOB)
    df = pd.read_csv(prog)
    df.loc[df.index[-1], "env_steps"] = 12
    df.to_csv(prog, index=False)
    assert "ends at env_steps 12, but" in _aggregate_error(tmp_path, jobs)


def test_progress_without_a_required_column_fails(tmp_path):
    jobs = _study(tmp_path)
    prog = tmp_path / results.progress_csv(*JOB)
    pd.read_csv(prog).drop(columns=["episodes"]).to_csv(prog, index=False)
    assert "lacks the column(s) episodes" in _aggregate_error(tmp_path, jobs)


@pytest.mark.parametrize(
    "rel, text, what",
    [
        (results.eval_summary_json(*JOB), '{"mean": 5.0, "std"', "is not valid JSON"),
        (results.eval_summary_json(*JOB), "", "is empty"),
        (results.eval_summary_json(*JOB), '{"mean": 5.0}', "lacks the key(s) episodes, std"),
        (results.train_summary_json(*JOB), '{"iterations": 12, "env_st', "is not valid JSON"),
        (results.train_summary_json(*JOB), "[1, 2]", "holds a JSON list, not an object"),
    ],
)
def test_damaged_json_of_a_run_fails_aggregation(tmp_path, rel, text, what):
    jobs = _study(tmp_path)
    (tmp_path / rel).write_text(text)
    msg = _aggregate_error(tmp_path, jobs)
    assert f"{tmp_path / rel}: {what}" in msg and f"--forcerun {tmp_path / rel}" in msg


def test_damaged_random_baseline_fails_aggregation(tmp_path):
    jobs = _study(tmp_path)
    _cut(tmp_path / results.random_summary_json("pursuit"), 0.5)
    assert "random/pursuit/summary.json: is not valid JSON" in _aggregate_error(tmp_path, jobs)


def test_allow_missing_leaves_out_a_damaged_run_and_says_why(tmp_path):
    jobs = _study(tmp_path)
    _cut(tmp_path / results.progress_csv(*JOB), 0.7)
    logs = []
    summary = agg.aggregate(tmp_path, jobs, ["pursuit"], log=logs.append, allow_missing=True)
    assert len(summary) == 3
    gone = pd.read_csv(tmp_path / agg.MISSING_TABLE)
    assert gone[["env", "method", "sharing", "seed"]].values.tolist() == [list(JOB)]
    assert "ends inside a row" in gone["damaged"].iloc[0]
    curves = pd.read_csv(tmp_path / results.CURVES_TABLE)
    assert len(curves) == 3 * 12


def test_figures_refuse_a_cut_progress_file(tmp_path):
    jobs = _study(tmp_path)
    _cut(tmp_path / results.progress_csv(*JOB), 0.6)
    with pytest.raises(InputError, match="ends inside a row"):
        figures.learning_curve_figure(
            tmp_path, "pursuit", jobs, [str(tmp_path / "f.png")], log=lambda m: None
        )
    assert not (tmp_path / "f.png").exists()


def test_statistics_refuse_a_summary_table_without_its_columns(tmp_path):
    jobs = make_study(tmp_path, seeds=(0, 1))
    agg.aggregate(tmp_path, jobs, ["pursuit"], log=lambda m: None)
    table = tmp_path / results.SUMMARY_TABLE
    pd.read_csv(table).drop(columns=["eval_mean"]).to_csv(table, index=False)
    with pytest.raises(InputError, match=r"summary\.csv: lacks the column\(s\) eval_mean"):
        agg.statistics(tmp_path, None, log=lambda m: None)


def test_aggregate_cli_prints_one_line_without_traceback(tmp_path, psmarl_bin):
    jobs = _study(tmp_path)
    (tmp_path / results.eval_summary_json(*JOB)).write_text("{not json")
    r = subprocess.run(
        [
            psmarl_bin,
            "aggregate",
            "--root",
            str(tmp_path),
            "--jobs",
            json.dumps([list(j) for j in jobs]),
            "--envs",
            "pursuit",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("psmarl aggregate: error: "), r.stderr
    assert "eval/summary.json: is not valid JSON" in lines[0]


# ---------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    spec = random_spec("pursuit", max_cycles=10, episodes=2)
    return spec, build_checkpoint(tmp_path_factory.mktemp("ck") / "checkpoint", spec["env"])


def _evaluate(capsys, spec, ckpt, out) -> tuple[int, str]:
    """``psmarl evaluate`` in this process (the CLI's own error handling; no re-import of
    torch and RLlib per test)."""
    capsys.readouterr()
    rc = main(["evaluate", "--spec", dumps(spec), "--checkpoint", str(ckpt), "--out-dir", str(out)])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(
    "damage", ["run_meta_cut", "run_meta_empty", "module_state_cut", "module_state_gone"]
)
def test_a_damaged_checkpoint_is_one_line_naming_the_file(checkpoint, tmp_path, capsys, damage):
    import shutil

    spec, good = checkpoint
    ckpt = tmp_path / "checkpoint"
    shutil.copytree(good, ckpt)
    module_state = ckpt / "learner_group/learner/rl_module/shared/module_state.pkl"
    if damage == "run_meta_cut":
        bad = ckpt / results.RUN_META
        _cut(bad, 0.5)
        what = "is not valid JSON"
    elif damage == "run_meta_empty":
        bad = ckpt / results.RUN_META
        bad.write_text("")
        what = "is empty"
    elif damage == "module_state_cut":
        bad = module_state
        _cut(bad, 0.5)
        what = "does not load"
    else:
        module_state.unlink()
        bad = module_state.parent.parent
        what = "does not load"
    rc, err = _evaluate(capsys, spec, ckpt, tmp_path / "out")
    assert rc == 2, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"psmarl evaluate: error: {bad.resolve()}: {what}"), err[-3000:]
    assert f"--forcerun {ckpt.resolve()} " in last
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_intact_built_checkpoint_evaluates(checkpoint, tmp_path, capsys):
    """The fixture's checkpoint itself is fine (so the damage above is what fails)."""
    spec, good = checkpoint
    rc, err = _evaluate(capsys, spec, good, tmp_path / "out")
    assert rc == 0, err[-3000:]
    assert len(pd.read_csv(tmp_path / "out" / "episodes.csv")) == 2


def test_a_kept_run_with_a_cut_progress_file_is_named_with_keep_runs(tmp_path):
    """psmarl reproduction-report and learning-check read kept runs through the same checks;
    their redo is psmarl keep-runs."""
    from psmarl import learning_check

    _study(tmp_path)
    _cut(tmp_path / results.progress_csv(*JOB), 0.8)
    with pytest.raises(InputError) as e:
        learning_check.learning_check_table(tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / results.progress_csv(*JOB)}: ends inside a row")
    assert msg.endswith("keep the run again with psmarl keep-runs")


def test_keep_runs_refuses_a_damaged_run_naming_the_forcerun(tmp_path):
    """keep-runs checks a finished run before copying it: kept, the damage would only show in
    the report, whose redo (keep again) would copy the same damage."""
    from psmarl import kept_runs

    _study(tmp_path / "results")
    prog = tmp_path / "results" / results.progress_csv(*JOB)
    _cut(prog, 0.8)
    dest = tmp_path / "kept"
    with pytest.raises(InputError) as e:
        kept_runs.keep_runs(tmp_path / "results", dest, log=lambda m: None)
    msg = str(e.value)
    assert msg.startswith(f"{prog}: ends inside a row") and f"--forcerun {prog}" in msg
    assert not (dest / results.run_dir(*JOB)).exists()


def test_keep_runs_refuses_a_damaged_random_baseline(tmp_path):
    from psmarl import kept_runs

    _study(tmp_path / "results")
    rand = tmp_path / "results" / results.random_summary_json("pursuit")
    _cut(rand, 0.5)
    with pytest.raises(InputError, match=r"random/pursuit/summary\.json: is not valid JSON"):
        kept_runs.keep_runs(tmp_path / "results", tmp_path / "kept", log=lambda m: None)
