"""A killed Snakemake's lock is removed by ``./run.sh`` (``psmarl preflight``) when nothing
still works in the folder, and kept while something does (issue 18, defect 3)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from psmarl import preflight
from psmarl.cli import main

pytestmark = pytest.mark.reliability

# one job that runs until killed; its command line names psmarl (as the real jobs' do) only
# when asked, through `exec -a`
SNAKEFILE = """
rule all:
    input: "done.txt"

rule slow:
    output: "done.txt"
    params: seconds=config.get("seconds", 600)
    shell: "({params.exec} sleep {params.seconds}); touch {output}"
"""


def _start(workdir: Path, snakemake_bin: str, job_name: str = "") -> subprocess.Popen:
    (workdir / "Snakefile").write_text(
        SNAKEFILE.replace("{params.exec}", f"exec -a {job_name}" if job_name else "exec")
    )
    p = subprocess.Popen(
        [snakemake_bin, "--cores", "1", "-d", str(workdir), "-s", str(workdir / "Snakefile")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not preflight.lock_files(workdir) and time.monotonic() < deadline:
        assert p.poll() is None, "snakemake ended early"
        time.sleep(0.2)
    assert preflight.lock_files(workdir), "snakemake never locked the folder"
    while not _job_pids(workdir) and time.monotonic() < deadline:
        time.sleep(0.2)
    return p


def _job_pids(workdir: Path) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                argv = [a for a in (d / "cmdline").read_bytes().split(b"\0") if a]
                if argv[-1:] == [b"600"] and Path(os.readlink(d / "cwd")) == workdir:
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def _rerun(workdir: Path, snakemake_bin: str) -> subprocess.CompletedProcess:
    """The same run again, with a job that ends at once (a dry run takes no lock)."""
    return subprocess.run(
        [
            snakemake_bin,
            "--cores",
            "1",
            "-d",
            str(workdir),
            "-s",
            str(workdir / "Snakefile"),
            "--config",
            "seconds=0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )


def _command(snakemake_bin: str, workdir: Path) -> list[str]:
    return [snakemake_bin, "-d", str(workdir), "-s", str(workdir / "Snakefile")]


def _kill(p: subprocess.Popen, group: bool) -> None:
    if group:
        os.killpg(p.pid, signal.SIGKILL)
    else:
        p.kill()
    p.wait(timeout=60)


def _cleanup(workdir: Path) -> None:
    """Kill the test's jobs in ``workdir`` and wait until they are gone (SIGKILL is
    delivered asynchronously: on a loaded machine a killed job can still be listed for a
    moment, and would hold the lock for a check made at once)."""
    for pid in _job_pids(workdir):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while _job_pids(workdir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _job_pids(workdir), "a killed job is still running after 60 s"


def test_a_stale_lock_is_removed_and_the_same_command_runs(tmp_path, snakemake_bin):
    p = _start(tmp_path, snakemake_bin)
    try:
        _kill(p, group=True)  # snakemake and its job, as a killed session would
        time.sleep(0.5)
        assert preflight.lock_files(tmp_path)
        before = _rerun(tmp_path, snakemake_bin)
        assert before.returncode != 0 and "LockException" in before.stdout  # the defect
        logs = []
        assert (
            preflight.clear_stale_lock(tmp_path, logs.append, _command(snakemake_bin, tmp_path))
            == "removed"
        )
        assert not preflight.lock_files(tmp_path)
        assert "removed a stale Snakemake lock" in logs[0]
        after = _rerun(tmp_path, snakemake_bin)
        assert after.returncode == 0 and (tmp_path / "done.txt").exists(), after.stdout[-2000:]
    finally:
        _cleanup(tmp_path)


def test_run_sh_s_preflight_command_removes_a_stale_lock(tmp_path, snakemake_bin, capsys):
    """As ./run.sh calls it: ``psmarl preflight -- <snakemake's arguments>``, a target
    first (the "--" once reached snakemake, which took --unlock for a target)."""
    p = _start(tmp_path, snakemake_bin)
    try:
        _kill(p, group=True)
        time.sleep(0.5)
        _cleanup(tmp_path)
        assert preflight.lock_files(tmp_path)
        args = ["done.txt", "-d", str(tmp_path), "-s", str(tmp_path / "Snakefile")]
        capsys.readouterr()
        assert main(["preflight", "--", *args]) == 0, capsys.readouterr().err
        assert "removed a stale Snakemake lock" in capsys.readouterr().err
        assert not preflight.lock_files(tmp_path)
    finally:
        _cleanup(tmp_path)


def test_a_running_snakemake_keeps_its_lock(tmp_path, snakemake_bin, capsys):
    p = _start(tmp_path, snakemake_bin)
    try:
        capsys.readouterr()
        assert main(["preflight", "--", "-d", str(tmp_path)]) == 0
        err = capsys.readouterr().err
        assert preflight.lock_files(tmp_path)
        assert "so the lock is kept" in err and f"pid {p.pid}: " in err
    finally:
        _kill(p, group=True)
        _cleanup(tmp_path)


def test_an_orphaned_psmarl_job_of_a_killed_snakemake_keeps_the_lock(tmp_path, snakemake_bin):
    """snakemake got SIGKILL alone: its job (here named psmarl) still writes in the folder."""
    p = _start(tmp_path, snakemake_bin, job_name="psmarl")
    try:
        _kill(p, group=False)
        logs = []
        assert preflight.clear_stale_lock(tmp_path, logs.append) == "held"
        assert preflight.lock_files(tmp_path)
        job = _job_pids(tmp_path)
        assert job and f"pid {job[0]}: psmarl 600" in logs[0]
    finally:
        _cleanup(tmp_path)
    assert (
        preflight.clear_stale_lock(tmp_path, lambda m: None, _command(snakemake_bin, tmp_path))
        == "removed"
    )


def test_no_lock_is_nothing_to_do(tmp_path):
    assert preflight.clear_stale_lock(tmp_path, lambda m: None) == "none"


def test_configfiles_are_taken_from_snakemake_arguments():
    args = [
        "--cores",
        "2",
        "--configfile",
        "a.yaml",
        "b.yaml",
        "-n",
        "--configfiles=c.yaml",
        "--config",
        "x=1",
    ]
    assert preflight.configfiles(args) == ["a.yaml", "b.yaml", "c.yaml"]


def test_run_sh_runs_preflight_before_snakemake():
    from conftest import REPO

    text = (REPO / "run.sh").read_text()
    assert text.index('psmarl preflight -- "$@"') < text.index("exec snakemake")
    assert sys.executable  # run.sh itself sets up .venv; its two lines are what it adds
