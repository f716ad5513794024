"""A restarted training job's log keeps the lines of its earlier attempts, with a marker per
start (issue 18, defect 7; the real restart is in test_training_run.py)."""

import io
import subprocess

import pytest

from psmarl.runlog import AttemptLog

pytestmark = pytest.mark.reliability


def test_snakemake_empties_a_job_log_at_each_start(tmp_path, snakemake_bin):
    """Why psmarl keeps its own copy: appending to {log} in the rule would not help."""
    (tmp_path / "Snakefile").write_text(
        'rule a:\n    output: "out"\n    log: "a.log"\n'
        '    shell: "echo attempt >> {log}; test -e go && touch {output} || exit 1"\n'
    )
    cmd = [snakemake_bin, "--cores", "1", "-d", str(tmp_path), "-s", str(tmp_path / "Snakefile")]
    assert subprocess.run(cmd, capture_output=True, timeout=300).returncode != 0
    (tmp_path / "go").touch()
    assert subprocess.run(cmd, capture_output=True, timeout=300).returncode == 0
    assert (tmp_path / "a.log").read_text() == "attempt\n"


def test_each_start_replays_the_earlier_attempts_and_marks_itself(tmp_path):
    history = tmp_path / "run" / ".work" / "log"
    first = io.StringIO()
    log = AttemptLog(history, "psmarl train", first)
    assert log.start() == 1
    log("iter    1  one")
    log.failed("KeyboardInterrupt: ")
    second = io.StringIO()  # Snakemake emptied the job log
    log = AttemptLog(history, "psmarl train", second)
    assert log.start() == 2
    log("resumed from iteration 1")
    lines = second.getvalue().splitlines()
    assert lines[0].startswith("==== earlier attempts of this run (kept in ")
    assert lines[1].startswith("==== psmarl train: attempt 1 started ")
    assert lines[2:4] == ["iter    1  one", "==== psmarl train: attempt failed: KeyboardInterrupt:"]
    assert lines[4].startswith("==== psmarl train: attempt 2 started ") and "(pid " in lines[4]
    assert lines[5] == "resumed from iteration 1"
    assert first.getvalue().splitlines()[1:] == ["iter    1  one"]


def test_after_publishing_nothing_recreates_the_work_folder(tmp_path):
    work = tmp_path / ".work"
    log = AttemptLog(work / "log", "psmarl train", io.StringIO())
    log.start()
    import shutil

    shutil.rmtree(work)  # publish_run removed it
    log("done: 2 iterations")
    log.failed("late")
    assert not work.exists()
