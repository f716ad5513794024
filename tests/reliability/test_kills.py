"""A SIGKILL at any step of writing a checkpoint or publishing a run leaves either the
``.work`` state that a restart resumes from, or every output complete and consistent;
never a partial output that a later run would take as done (issue 18, "kills at random
moments including during publish"). The kill is real: a forked child sends itself SIGKILL
at the k-th file-system step, for every k until the operation completes.
The random-moment kill of a real training run is in test_training_run.py."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from psmarl import results

pytestmark = pytest.mark.reliability


def _operation(k: int, what: str, root: Path) -> None:
    """In a forked child: count file-system steps and SIGKILL this process at step ``k``
    (0: never), while writing a checkpoint or publishing a run."""
    import os
    import shutil

    count = [0]

    def step(fn):
        def wrapped(*a, **kw):
            count[0] += 1
            if count[0] == k:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*a, **kw)

        return wrapped

    os.replace = step(os.replace)
    shutil.rmtree = step(shutil.rmtree)
    shutil.copytree = step(shutil.copytree)
    Path.unlink = step(Path.unlink)
    Path.write_text = step(Path.write_text)
    work = root / "run" / ".work"
    if what == "checkpoint":
        results.write_checkpoint_atomic(
            work / "checkpoint",
            lambda tmp: (tmp / "state.bin").write_text("new" * 1000),
            {"iteration": 2},
        )
    else:
        df = pd.DataFrame(
            {
                "iteration": [1, 2],
                "env_steps": [10, 20],
                "episodes": [1, 2],
                "wall_seconds": [1.0, 2.0],
                "avg_total_reward": [0.5, 0.7],
            }
        )
        summary = {"iterations": 2, "env_steps": 20, "episodes": 2}
        results.publish_run(root / "run", work / "checkpoint", df, summary, work)


def _child(k: int, what: str, root: Path) -> int:
    """Exit code of :func:`_operation` in a forked process (no re-import: fast)."""
    import multiprocessing as mp

    p = mp.get_context("fork").Process(target=_operation, args=(k, what, root))
    p.start()
    p.join(timeout=120)
    assert p.exitcode is not None, "the child did not finish"
    return p.exitcode


def _setup(root: Path, iteration: int) -> None:
    ck = root / "run" / ".work" / "checkpoint"
    ck.mkdir(parents=True)
    (ck / "state.bin").write_text(("old" if iteration == 1 else "new") * 1000)
    results.write_json_atomic(ck / results.RUN_META, {"iteration": iteration})


def _kill_at_every_step(tmp_path, what, check) -> int:
    k = 1
    while True:
        root = tmp_path / f"k{k}"
        _setup(root, iteration=1 if what == "checkpoint" else 2)
        code = _child(k, what, root)
        if code == 0:
            check(root, killed=False)
            return k - 1
        assert code == -signal.SIGKILL, code
        check(root, killed=True)
        k += 1
        assert k < 100


def test_a_kill_while_a_checkpoint_is_replaced_leaves_a_whole_one(tmp_path):
    def check(root, killed):
        ck = root / "run" / ".work" / "checkpoint"
        assert results.recover_checkpoint(ck) == ck
        meta = results.read_json(ck / results.RUN_META)
        state = (ck / "state.bin").read_text()
        # the old checkpoint or the new one, each whole
        assert (meta["iteration"], state) in ((1, "old" * 1000), (2, "new" * 1000))
        if not killed:
            assert meta["iteration"] == 2

    steps = _kill_at_every_step(tmp_path, "checkpoint", check)
    assert steps >= 4


def test_a_kill_while_a_run_is_published_leaves_it_resumable_or_complete(tmp_path):
    def check(root, killed):
        run = root / "run"
        if (run / "train_summary.json").exists():
            # complete: the summary is the last output to appear
            summary = results.read_json(run / "train_summary.json", results.TRAIN_SUMMARY_KEYS)
            prog = results.read_csv(run / "progress.csv", results.REQUIRED_PROGRESS_COLUMNS)
            results.check_progress(prog, summary, run / "progress.csv", run / "train_summary.json")
            assert (run / "checkpoint" / results.RUN_META).exists()
            # a half-removed .work or .final never looks like a checkpoint to resume from
            for kept in (".work", results.final_state_dir(run).name):
                ck = run / kept / "checkpoint"
                assert not (ck / results.RUN_META).exists() or (ck / "state.bin").exists()
        else:
            # not published: the restart resumes from .work, which is whole, and publishes
            ck = run / ".work" / "checkpoint"
            assert results.recover_checkpoint(ck) == ck
            assert (ck / "state.bin").exists()
            assert _child(0, "publish", root) == 0  # the restart's publish, not killed
            check(root, killed=False)
        if not killed:
            assert not (run / ".work").exists()
            # a kill inside an atomic write may leave its hidden temporary file (never read)
            left = sorted(p.name for p in run.iterdir() if not p.name.endswith(".tmp"))
            assert left == [".final", "checkpoint", "progress.csv", "train_summary.json"], left
            # the finished run's state, kept to continue it: the published checkpoint's
            final = results.final_state_dir(run) / "checkpoint"
            assert (final / "state.bin").read_text() == (
                run / "checkpoint" / "state.bin"
            ).read_text()
            assert results.read_json(final / results.RUN_META)["iteration"] == 2

    steps = _kill_at_every_step(tmp_path, "publish", check)
    assert steps >= 6


def test_a_kill_during_removal_of_work_leaves_no_checkpoint_that_looks_whole(tmp_path):
    """publish_run removes .work/checkpoint's RUN_META before the rest: a restart (e.g.
    --forcerun) then starts afresh instead of restoring a checkpoint with missing files."""
    _setup(tmp_path, iteration=2)
    work = tmp_path / "run" / ".work"
    calls = []
    import shutil

    real = shutil.rmtree

    def interrupted(path, *a, **kw):
        calls.append(Path(path))
        raise KeyboardInterrupt  # stands for a kill right when the removal starts

    shutil.rmtree = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            results.remove_work_dir(work)
    finally:
        shutil.rmtree = real
    assert calls == [work]
    assert not (work / "checkpoint" / results.RUN_META).exists()
    assert results.recover_checkpoint(work / "checkpoint") is None


def test_json_and_csv_writes_are_atomic_under_kill(tmp_path):
    """write_json_atomic / write_csv_atomic: the target is the old file or the new one."""
    target = tmp_path / "summary.json"
    results.write_json_atomic(target, {"old": True})
    code = (
        "import os, signal, sys\n"
        "from psmarl import results\n"
        "real = os.replace\n"
        "def killed(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "os.replace = killed\n"
        f"results.write_json_atomic({str(target)!r}, {{'new': True, 'pad': 'x' * 100000}})\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert r.returncode == -signal.SIGKILL
    assert json.loads(target.read_text()) == {"old": True}
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "summary.json"]
    assert all(n.startswith(".summary.json.") for n in leftovers)
    df = pd.DataFrame({"a": [1]})
    results.write_csv_atomic(tmp_path / "t.csv", df)
    assert results.read_csv(tmp_path / "t.csv", ["a"]).equals(df)
