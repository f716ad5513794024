"""Keep runs in the repository, and put them back on a fresh machine.

Training outputs live under ``results/`` (not in git), and a later sitting may be on another
machine. ``psmarl keep-runs`` copies each *finished* run's small files (progress.csv,
train_summary.json, eval/summary.json, eval/episodes.csv, the sampled-actions evaluation
where there is one) and the baselines (random and idle) into a folder of the repository
(``docs/reproduction/``, laid out as ``results/``: the paths of ``psmarl.results``), with the
machine that produced them; with ``--checkpoints`` also its final checkpoint. Each
*unfinished* run keeps its last checkpoint and progress rows under ``unfinished/``.
``--restore`` puts both back under a results folder: the finished runs as done (not trained
again; they can still be evaluated or probed), the unfinished ones as their ``.work``, from
which the next ``./run.sh`` resumes them.

The reports built from a kept folder: ``psmarl.reproduction`` (the multiwalker reproduction)
and ``psmarl.learning_check`` (every method of the paper grid).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from psmarl import results
from psmarl.errors import InputError

#: the files of a finished run that are kept (relative to its run folder)
KEPT_RUN_FILES = (  # in the order their stages write them, each summary last
    "progress.csv",
    "train_summary.json",
    "eval/episodes.csv",
    "eval/summary.json",
    # kept where present: the plays with sampled actions (results.sampled_eval_dir)
    "eval_sampled/episodes.csv",
    "eval_sampled/summary.json",
)
#: the sampled-actions evaluation's folder in a run (results.sampled_eval_dir)
SAMPLED_EVAL = results.SAMPLED_EVAL
#: a finished run's final checkpoint, kept too with ``checkpoints=True`` (a few MB per run:
#: a fresh machine can then evaluate it again, and Snakemake takes the restored run as done)
KEPT_CHECKPOINT = results.CHECKPOINT
MACHINE_JSON = "machine.json"
#: the keys of a random baseline's summary.json that the reports read
RANDOM_KEYS = ("mean", "episodes")  # of a baseline's (random or idle)
#: what a damaged kept file's error tells the reader to do
KEEP_AGAIN = "keep the run again with psmarl keep-runs"


def machine_info() -> dict[str, Any]:
    """What a reader needs to weigh a wall time: CPU model and count, OS, Python, date."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "machine": platform.machine(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "kept_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _finished_runs(root: Path) -> list[tuple[str, str, str, str]]:
    """(env, method, sharing, seed) of every run under ``root`` with a training summary and
    an evaluation summary (both written last, atomically, by their stages)."""
    found = []
    for summary in sorted(root.glob("runs/*/*/*/seed*/train_summary.json")):
        run = summary.parent
        env, method, sharing, seed = run.parts[-4:]
        if (run / "eval" / "summary.json").exists():
            found.append((env, method, sharing, seed.removeprefix("seed")))
    return found


def keep_runs(
    root: str | Path,
    dest: str | Path,
    log: Callable[[str], None] = print,
    checkpoints: bool = False,
    unfinished: bool = True,
) -> list:
    """Copy every finished run under ``root`` (and the baselines) into ``dest``; with
    ``checkpoints``, each finished run's final checkpoint too; with ``unfinished``, each
    unfinished run's last checkpoint (:func:`keep_unfinished`).

    A run already kept with the same files (and its checkpoint, when asked for) is left
    alone; a run whose kept copy differs is replaced as a whole (the copy is assembled beside
    it and swapped in). Returns the runs copied now.
    """
    root, dest = Path(root), Path(dest)
    if not (root / "runs").is_dir() and not (root / "baselines").is_dir():
        raise InputError(
            f"{root}: no runs/ or baselines/ folder here (is it the config's results_dir?)"
        )
    copied = []
    machine = machine_info()
    for env, method, sharing, seed in _finished_runs(root):
        rel = results.run_dir(env, method, sharing, seed)
        src, dst = root / rel, dest / rel
        # checked before it is kept: a damaged copy would only show in the report, whose
        # redo (keep again) would copy the same damage; the error names the --forcerun
        results.read_progress(src / "progress.csv", src / "train_summary.json")
        results.read_json(src / "eval" / "summary.json", results.EVAL_SUMMARY_KEYS)
        want_checkpoint = checkpoints and (src / KEPT_CHECKPOINT / results.RUN_META).exists()
        same_files = dst.exists() and all(
            (dst / f).exists() and (dst / f).read_bytes() == (src / f).read_bytes()
            for f in KEPT_RUN_FILES
            if (src / f).exists()
        )
        if same_files and (not want_checkpoint or (dst / KEPT_CHECKPOINT).is_dir()):
            continue
        with tempfile.TemporaryDirectory() as staging:
            tmp = Path(staging)
            for f in KEPT_RUN_FILES:
                if (src / f).exists():
                    (tmp / f).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src / f, tmp / f)
            if want_checkpoint:
                shutil.copytree(src / KEPT_CHECKPOINT, tmp / KEPT_CHECKPOINT)
            elif (dst / KEPT_CHECKPOINT).is_dir():
                log(f"{rel}: its kept checkpoint was of an earlier training: not kept")
            results.write_json_atomic(tmp / MACHINE_JSON, machine)
            results.replace_dir_atomic(tmp, dst)
        copied.append((env, method, sharing, seed))
        log(f"kept {rel}" + (" with its final checkpoint" if want_checkpoint else ""))
    for summary in sorted(
        s
        for policy in results.BASELINES
        for s in root.glob(results.baseline_summary_json(policy, "*"))
    ):
        out = dest / summary.relative_to(root)
        results.read_json(summary, RANDOM_KEYS)
        if not out.exists() or out.read_bytes() != summary.read_bytes():
            out.parent.mkdir(parents=True, exist_ok=True)
            results.write_text_atomic(out, summary.read_text())
            log(f"kept {summary.relative_to(root)}")
    for done in kept_unfinished(dest):  # kept while unfinished, finished (and kept) since
        if (dest / done / "train_summary.json").exists():
            shutil.rmtree(dest / UNFINISHED / done)
            log(f"dropped {UNFINISHED}/{done}: the finished run is kept")
    for run in _unfinished_runs(root) if unfinished else []:
        copied += keep_unfinished(run, dest / UNFINISHED / run.relative_to(root), machine, log)
    return copied


# ---------------------------------------------------------------- unfinished runs
#: where keep-runs puts each unfinished run's last checkpoint and progress rows (a run of the
#: reproduction takes hours; the next sitting may be on a fresh machine)
UNFINISHED = "unfinished"


def _unfinished_runs(root: Path) -> list[Path]:
    """Run folders under ``root`` with a complete checkpoint in ``.work`` and no summary."""
    return [
        meta.parent.parent.parent
        for meta in sorted(root.glob(f"runs/*/*/*/seed*/.work/checkpoint/{results.RUN_META}"))
        if not (meta.parent.parent.parent / "train_summary.json").exists()
    ]


def kept_unfinished(dest: Path) -> list[Path]:
    """The run folders (relative, as under ``results/``) kept unfinished in ``dest``."""
    return [
        meta.parent.parent.relative_to(dest / UNFINISHED)
        for meta in sorted(
            (dest / UNFINISHED).glob(f"runs/*/*/*/seed*/checkpoint/{results.RUN_META}")
        )
    ]


def checkpoint_iteration(checkpoint: Path) -> int:
    """The training iteration a checkpoint (its ``psmarl_run.json``) was written at."""
    meta = results.read_json(checkpoint / results.RUN_META)
    return int(meta.get("loop", meta).get("iteration", 0))


def keep_unfinished(
    run: Path, dst: Path, machine: Mapping[str, Any], log: Callable[[str], None] = print
) -> list:
    """Keep an unfinished run's last checkpoint and its progress rows up to it (``dst``:
    checkpoint/, progress.jsonl, machine.json), unless the kept copy is as far."""
    src_ckpt = run / ".work" / "checkpoint"
    it = checkpoint_iteration(src_ckpt)
    if (dst / "checkpoint" / results.RUN_META).exists() and checkpoint_iteration(
        dst / "checkpoint"
    ) >= it:
        return []
    rows = results.read_progress_rows(run / ".work" / "progress.jsonl", it)
    with tempfile.TemporaryDirectory() as staging:
        tmp = Path(staging)
        shutil.copytree(src_ckpt, tmp / "checkpoint")
        (tmp / "progress.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        results.write_json_atomic(tmp / MACHINE_JSON, machine)
        results.replace_dir_atomic(tmp, dst)
    log(f"kept {dst} (unfinished: iteration {it})")
    env, method, sharing, seed = run.parts[-4:]
    return [(env, method, sharing, seed.removeprefix("seed"))]


def restore_unfinished(
    data: str | Path, root: str | Path, log: Callable[[str], None] = print
) -> list[Path]:
    """Put every unfinished run kept in ``data`` back under ``root`` (a results folder) as
    its ``.work``, so that the next ``./run.sh`` resumes it from the kept checkpoint. A run
    that is finished under ``root``, or whose own checkpoint there is as far, is left alone."""
    data, root = Path(data), Path(root)
    if not (data / UNFINISHED).is_dir():
        raise InputError(
            f"{data / UNFINISHED}: no unfinished runs kept here (psmarl keep-runs "
            f"--root <results> --to {data} keeps them)"
        )
    restored = []
    for rel in kept_unfinished(data):
        kept, run = data / UNFINISHED / rel, root / rel
        if (run / "train_summary.json").exists():
            continue
        own = run / ".work" / "checkpoint"
        if results.recover_checkpoint(own) is not None and checkpoint_iteration(
            own
        ) >= checkpoint_iteration(kept / "checkpoint"):
            continue
        with tempfile.TemporaryDirectory() as staging:
            tmp = Path(staging)
            shutil.copytree(kept / "checkpoint", tmp / "checkpoint")
            shutil.copy2(kept / "progress.jsonl", tmp / "progress.jsonl")
            results.replace_dir_atomic(tmp, run / ".work")
        restored.append(run)
        it = checkpoint_iteration(kept / "checkpoint")
        log(f"restored {run}/.work from {kept} (iteration {it})")
    if not restored:
        log(
            f"nothing to restore: every run kept in {data / UNFINISHED} is finished or as far "
            f"along under {root}"
        )
    return restored


def restore_finished(
    data: str | Path, root: str | Path, log: Callable[[str], None] = print
) -> list[Path]:
    """Put every finished run kept in ``data`` with its final checkpoint back under ``root``
    as the outputs of its training and evaluation (checkpoint/, progress.csv,
    train_summary.json, then eval/), so that ``./run.sh`` takes it as done and does not
    train it again. Files are written anew, in the order the stages write them (a later
    stage's output newer than its input); the training summary, written last, marks the run
    finished. A run with a training summary under ``root`` is left alone."""
    data, root = Path(data), Path(root)
    restored = []
    for summary in sorted(data.glob("runs/*/*/*/seed*/train_summary.json")):
        kept = summary.parent
        if not (kept / KEPT_CHECKPOINT / results.RUN_META).exists():
            continue
        run = root / kept.relative_to(data)
        if (run / "train_summary.json").exists():
            continue
        run.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as staging:  # copied anew: files of this time
            tmp = Path(staging) / KEPT_CHECKPOINT
            shutil.copytree(kept / KEPT_CHECKPOINT, tmp, copy_function=shutil.copy)
            results.replace_dir_atomic(tmp, run / KEPT_CHECKPOINT)
        for f in KEPT_RUN_FILES:
            if (kept / f).exists():
                results.write_text_atomic(run / f, (kept / f).read_text())
        restored.append(run)
        log(f"restored {run} from {kept} (finished: its final checkpoint and summaries)")
    return restored


def restore_runs(data: str | Path, root: str | Path, log: Callable[[str], None] = print) -> list:
    """``psmarl keep-runs --restore``: the finished runs kept with their checkpoint
    (:func:`restore_finished`) and the unfinished ones (:func:`restore_unfinished`)."""
    data = Path(data)
    if (data / UNFINISHED).is_dir():
        return restore_finished(data, root, log) + restore_unfinished(data, root, log)
    if not any(data.glob(f"runs/*/*/*/seed*/{KEPT_CHECKPOINT}/{results.RUN_META}")):
        raise InputError(
            f"{data}: no run kept here with its checkpoint, and no unfinished run "
            f"(psmarl keep-runs --checkpoints --root <results> --to {data} keeps them)"
        )
    restored = restore_finished(data, root, log)
    if not restored:
        log(f"nothing to restore: every run kept in {data} is there under {root}")
    return restored


# ---------------------------------------------------------------- what is left to train
def merged_config(configfiles: list[str | Path]) -> dict[str, Any]:
    """The config Snakemake builds from ``--configfile A B ...``: each file on top of the one
    before (config/config.yaml only when none is given), entries left out with null
    dropped."""
    from psmarl import config as pscfg  # the method catalogue: only for this helper

    merged = pscfg.load_merged(configfiles or ["config/config.yaml"])
    pscfg.drop_left_out(merged)
    return merged


def unkept_targets(configfiles: list[str | Path], kept: str | Path) -> list[str]:
    """The outputs to ask Snakemake for to train and evaluate every run of the config that
    is not kept finished in ``kept``: each run's eval/summary.json and, where the config
    asks for it, its sampled-actions one, under the config's results_dir; first, each env's
    baselines (random and idle: the learning check's table reads both) not kept there. Runs
    kept without their checkpoint (too big for git) cannot be restored as done; naming only
    the others as targets keeps ``./run.sh`` from training them again on a fresh machine."""
    from psmarl import config as pscfg

    config = merged_config(configfiles)
    kept, root = Path(kept), pscfg.results_root(config)
    sampled = set(pscfg.sampled_eval_jobs(config))
    out = [
        f"{root}/{summary}"
        for env in pscfg.env_names(config)
        for policy in results.BASELINES
        if not (kept / (summary := results.baseline_summary_json(policy, env))).exists()
    ]
    for job in pscfg.train_jobs(config):
        rel = results.run_dir(*job)
        if (kept / rel / "eval" / "summary.json").exists() and (
            job not in sampled or (kept / rel / SAMPLED_EVAL / "summary.json").exists()
        ):
            continue
        out.append(f"{root}/{results.eval_summary_json(*job)}")
        if job in sampled:
            out.append(f"{root}/{results.sampled_eval_dir(*job)}/summary.json")
    return out


# ---------------------------------------------------------------- command line
def add_cli(add: Callable) -> None:
    """``psmarl keep-runs`` (registered by psmarl.cli)."""

    def keep(a):
        if a.restore:
            restore_runs(a.to, a.root)
        else:
            keep_runs(a.root, a.to, checkpoints=a.checkpoints, unfinished=not a.finished_only)

    sp = add(
        "keep-runs",
        keep,
        "copy every finished run's small files into the repository",
        "Copies progress.csv, train_summary.json and eval/ summaries of every run under "
        "--root whose training and evaluation finished (and the random and idle baselines) into "
        "--to, with the machine that ran them, so that a report can be built later on "
        "any machine. Runs already kept unchanged are skipped. Unfinished runs keep their "
        f"last checkpoint (a few MB) and progress rows under --to/{UNFINISHED}, so a "
        "fresh machine resumes them (--restore). With --checkpoints, finished runs keep "
        "their final checkpoint too, so a fresh machine neither trains them again nor "
        "loses what could still be measured on them.",
    )
    sp.add_argument("--root", required=True, help="a results folder (the config's results_dir)")
    sp.add_argument("--to", required=True, help="where to keep them, e.g. docs/reproduction")
    sp.add_argument(
        "--restore",
        action="store_true",
        help=f"the other way: put the unfinished runs kept in --to/{UNFINISHED} "
        "back under --root, so that ./run.sh resumes them from their kept "
        "checkpoint, and the finished runs kept with their checkpoint, so that ./run.sh "
        "takes them as done (runs finished or further along there are left alone)",
    )
    sp.add_argument(
        "--checkpoints",
        action="store_true",
        help="keep each finished run's final checkpoint too (a few MB per run)",
    )
    sp.add_argument(
        "--finished-only",
        action="store_true",
        help=f"leave the unfinished runs out of --to/{UNFINISHED} (their checkpoints are "
        "20-64 MB for the off-policy and independent runs; short runs train again instead)",
    )

    def left(a):
        if not Path(a.kept).is_dir():  # a mistyped --kept would list (and train) every run
            print(f"note: --kept {a.kept} is not a folder: no run is kept", file=sys.stderr)
        targets = unkept_targets(a.configfile, a.kept)
        if targets:
            print("\n".join(targets))
        else:
            print(f"every run of the config is kept in {a.kept}", file=sys.stderr)

    sp = add(
        "unkept-targets",
        left,
        "list the outputs of the runs not yet kept, as Snakemake targets",
        "Prints, one per line, the evaluation summaries (under the config's results_dir) "
        "of every run of the config whose finished evaluation is not kept in --kept, after "
        "each env's baselines (random, idle) not kept there. Runs "
        "kept without their checkpoint cannot be restored as done, so ./run.sh on the "
        "whole config trains them again; asking for these targets trains only the rest:\n"
        "  ./run.sh $(psmarl unkept-targets --configfile A B --kept D) --configfile A B",
    )
    sp.add_argument(
        "--configfile",
        nargs="+",
        default=[],
        help="the config files, as given to ./run.sh (default: config/config.yaml)",
    )
    sp.add_argument("--kept", required=True, help="the kept folder, e.g. docs/reproduction")
