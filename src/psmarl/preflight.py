"""Checks made before Snakemake starts (``./run.sh`` runs ``psmarl preflight`` with its own
arguments): a lock left by a killed run is removed when nothing still works in the folder,
and every ``--configfile`` is valid YAML, named with file and line when it is not.

Snakemake locks its working folder (``.snakemake/locks/``) while it runs and removes the
lock when it ends; a ``snakemake`` killed with SIGKILL (or a lost login session) leaves the
lock behind, and the next run fails with ``LockException`` until ``snakemake --unlock``.
Unlocking while another Snakemake, or a job of the killed one (an orphaned ``psmarl
train``), still writes in the folder would let two processes write the same outputs; so
the lock is removed only when no such process runs on this machine. Jobs on other machines
(Slurm) are not visible here: see the README, "Running on a cluster".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from psmarl.errors import ConfigError

#: a program name in a command line: snakemake or psmarl as an executable, a module
#: (``-m snakemake``) or a word of a shell command (``bash -c "psmarl train ..."``)
_PROGRAM = re.compile(r"(?:^|[\s/])(snakemake|psmarl)(?:\s|$)")


def lock_files(workdir: str | os.PathLike) -> list[Path]:
    locks = Path(workdir) / ".snakemake" / "locks"
    return sorted(locks.glob("*.lock")) if locks.is_dir() else []


def _ancestors() -> set[int]:
    out, pid = set(), os.getpid()
    while pid > 1:
        out.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def _directory_arg(argv: Sequence[str]) -> str | None:
    for i, a in enumerate(argv):
        if a in ("-d", "--directory") and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--directory="):
            return a.split("=", 1)[1]
    return None


def holders(workdir: str | os.PathLike) -> list[tuple[int, str]]:
    """(pid, command line) of every snakemake or psmarl process on this machine that works
    in ``workdir`` (its current folder is in it, or its ``--directory`` is it); this
    process and its parents (run.sh) excluded. Processes of other users are not readable
    and not listed."""
    root = Path(workdir).resolve()
    skip = _ancestors()
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) in skip:
            continue
        try:
            argv = (d / "cmdline").read_bytes().decode(errors="replace").split("\0")
            argv = [a for a in argv if a]
            if not argv or not any(_PROGRAM.search(a) for a in argv):
                continue
            cwd = Path(os.readlink(d / "cwd"))
        except (OSError, ValueError):
            continue
        directory = _directory_arg(argv)
        where = (cwd / directory).resolve() if directory else cwd
        if where == root or root in where.parents:
            out.append((int(d.name), " ".join(argv)[:200]))
    return out


def clear_stale_lock(
    workdir: str | os.PathLike,
    log: Callable[[str], None],
    snakemake: Sequence[str] = ("snakemake",),
) -> str:
    """ "none" (no lock), "held" (processes still work here: left alone, named in the log)
    or "removed" (a stale lock, removed by ``snakemake`` with the arguments the run will get
    (the Snakefile and config it reads) and ``--unlock``)."""
    workdir = Path(workdir)
    if not lock_files(workdir):
        return "none"
    busy = holders(workdir)
    if busy:
        log(
            f"note: {workdir.resolve()} is locked by Snakemake and these processes still work "
            "in it, so the lock is kept (Snakemake refuses to start if they write the same "
            "outputs): " + "; ".join(f"pid {pid}: {cmd}" for pid, cmd in busy)
        )
        return "held"
    r = subprocess.run([*snakemake, "--unlock"], capture_output=True, text=True)
    if r.returncode != 0 or lock_files(workdir):
        raise ConfigError(
            f"could not remove the stale Snakemake lock in {workdir}/.snakemake/"
            f"locks (snakemake --unlock: {r.stderr.strip()[-500:]})"
        )
    log(
        f"note: removed a stale Snakemake lock in {workdir.resolve()} (left by a run that was "
        "killed; no snakemake or psmarl process works in the folder)"
    )
    return "removed"


def configfiles(argv: Sequence[str]) -> list[str]:
    """The files after ``--configfile``/``--configfiles`` in Snakemake's arguments."""
    out, taking = [], False
    for a in argv:
        if a.startswith("-"):
            taking = a in ("--configfile", "--configfiles")
            for opt in ("--configfile=", "--configfiles="):
                if a.startswith(opt):
                    out.append(a[len(opt) :])
            continue
        if taking:
            out.append(a)
    return out


def preflight(argv: Sequence[str], log: Callable[[str], None]) -> None:
    from psmarl import config as cfg

    for f in configfiles(argv):
        cfg.load(f)  # ConfigError naming file and line
    exe = Path(sys.executable).with_name("snakemake")
    clear_stale_lock(
        _directory_arg(argv) or ".",
        log,
        snakemake=(str(exe) if exe.exists() else "snakemake", *argv),
    )


def add_cli(add: Callable) -> None:
    """``psmarl preflight`` (registered by psmarl.cli)."""
    import argparse

    def run(a):
        args = list(a.snakemake_args)
        # argparse keeps the "--" that separates them (./run.sh: psmarl preflight -- "$@");
        # passed on, it would make every later argument, --unlock included, a target
        if args[:1] == ["--"]:
            args = args[1:]
        preflight(args, lambda m: print(m, file=sys.stderr, flush=True))

    sp = add(
        "preflight",
        run,
        "checks before Snakemake starts: stale lock of a killed run, config YAML",
        "Takes Snakemake's arguments (./run.sh passes its own). Every --configfile must "
        "be valid YAML (file and line named otherwise). If a killed run left Snakemake's "
        "lock in the working folder (--directory, default .) and no snakemake or psmarl "
        "process on this machine still works there, the lock is removed (snakemake "
        "--unlock); if one does, the lock is kept and the processes are named.",
    )
    sp.add_argument(
        "snakemake_args", nargs=argparse.REMAINDER, help="the arguments Snakemake will get"
    )
