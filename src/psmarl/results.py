"""The one place that defines run folders and file formats.

Layout under the results root (``results/`` by default)::

    runs/{env}/{method}/{sharing}/seed{seed}/
        progress.csv          one row per training iteration (PROGRESS_COLUMNS + module columns)
        checkpoint/           final RLlib checkpoint (+ psmarl_run.json)
        train_summary.json    what was trained, with which settings, for how long
        .work/                resumable state of an unfinished run (never a workflow output)
        .final/               the finished run's state, kept to continue it when its budget
                              is raised (hard links of checkpoint/'s files: no extra disk)
        tensorboard/          TensorBoard event files, written as the run trains
        eval/episodes.csv     one row per evaluation play (EPISODE_COLUMNS)
        eval/summary.json     mean, std, 95% CI of the plays
    baselines/random/{env}/episodes.csv, summary.json
    tables/summary.csv, learning_curves.csv       (psmarl aggregate)
    tables/marl_eval.json                         (psmarl marl-eval-export)
    tables/statistics.csv, sharing_differences.csv, probability_of_improvement.csv,
        paper_comparison.csv                      (psmarl statistics)
    figures/learning_curve_{env}.{ext}, figure{3,4,5}_{env}.{ext}, sharing_summary.{ext}
    figures/figure1_mailp.{png,pdf}, theory/mailp_bounds.csv   (psmarl theory)
    report/config.yaml                            (psmarl config-record)
    logs/{stage}/...

Outputs are written to a temporary name and renamed into place, so an interrupted stage
never leaves a file that a later run would take as finished.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from psmarl.errors import InputError

#: the columns every progress.csv has (readers require these; runs written before the
#: paper's measure existed have only them)
REQUIRED_PROGRESS_COLUMNS = [
    "iteration",
    "env_steps",
    "episodes",
    "wall_seconds",
    "avg_total_reward",
]
PROGRESS_COLUMNS = [
    "iteration",
    "env_steps",
    "episodes",
    "wall_seconds",
    "avg_total_reward",
    # the paper's measure (psmarl.run_loop.old_rllib_mean; absent from runs written before
    # it, whose paper measure is psmarl's: psmarl.run_loop.paper_columns) and the samples
    # trained so far (replay-based methods)
    "paper_avg_total_reward",
    "paper_episodes",
    "samples_trained",
]
EPISODE_COLUMNS = ["episode", "seed", "total_reward", "length"]
SUMMARY_COLUMNS = [
    "env",
    "method",
    "sharing",
    "seed",
    "preset",
    "best_avg_total_reward",
    "episodes_at_best",
    "final_avg_total_reward",
    "paper_best_avg_total_reward",
    "paper_episodes_at_best",
    "train_env_steps",
    "train_episodes",
    "train_wall_seconds",
    "eval_mean",
    "eval_std",
    "eval_ci95_low",
    "eval_ci95_high",
    "eval_episodes",
    "random_mean",
    "random_ci95_low",
    "random_ci95_high",
]
RUN_META = "psmarl_run.json"
#: a run's TensorBoard event files (psmarl.live_metrics), beside its outputs; not a
#: workflow output (written while the run trains, kept when it is published)
TENSORBOARD_DIR = "tensorboard"


# ---------------------------------------------------------------- paths (relative to root)
def run_dir(env: str, method: str, sharing: str, seed: int | str) -> str:
    return f"runs/{env}/{method}/{sharing}/seed{seed}"


def progress_csv(env, method, sharing, seed) -> str:
    return f"{run_dir(env, method, sharing, seed)}/progress.csv"


#: a run's final checkpoint folder and its sampled-actions evaluation folder (run-relative)
CHECKPOINT = "checkpoint"
SAMPLED_EVAL = "eval_sampled"


def checkpoint_dir(env, method, sharing, seed) -> str:
    return f"{run_dir(env, method, sharing, seed)}/{CHECKPOINT}"


def train_summary_json(env, method, sharing, seed) -> str:
    return f"{run_dir(env, method, sharing, seed)}/train_summary.json"


def work_dir(env, method, sharing, seed) -> str:
    return f"{run_dir(env, method, sharing, seed)}/.work"


def final_state_dir(run: str | os.PathLike) -> Path:
    """The finished run's state (``.work`` as it was when the run was published: final
    checkpoint, progress rows, attempt log), kept so that a raised budget continues the run
    instead of training it again from zero (:meth:`psmarl.run_loop.RunLoop.start`)."""
    return Path(run) / ".final"


def attempt_log(run: str | os.PathLike) -> Path:
    """Every attempt's log lines of an unfinished run (``psmarl.runlog``)."""
    return Path(run) / ".work" / "log"


def eval_dir(env, method, sharing, seed) -> str:
    return f"{run_dir(env, method, sharing, seed)}/eval"


def eval_episodes_csv(env, method, sharing, seed) -> str:
    return f"{eval_dir(env, method, sharing, seed)}/episodes.csv"


def eval_summary_json(env, method, sharing, seed) -> str:
    return f"{eval_dir(env, method, sharing, seed)}/summary.json"


def sampled_eval_dir(env, method, sharing, seed) -> str:
    """The same plays with actions sampled from the policy (``psmarl evaluate-sampled``: the
    ``evaluate_sampled`` rule, with ``evaluation.sampled_actions``),
    kept and reported beside ``eval/`` by the reproduction report."""
    return f"{run_dir(env, method, sharing, seed)}/{SAMPLED_EVAL}"


def sampled_eval_episodes_csv(env, method, sharing, seed) -> str:
    return f"{sampled_eval_dir(env, method, sharing, seed)}/episodes.csv"


def sampled_eval_summary_json(env, method, sharing, seed) -> str:
    return f"{sampled_eval_dir(env, method, sharing, seed)}/summary.json"


#: the baselines' policies: uniform random actions, and every agent idle
#: (:class:`psmarl.evaluate.IdlePolicy`)
BASELINES = ("random", "idle")


def baseline_dir(policy: str, env: str) -> str:
    if policy not in BASELINES:
        raise ValueError(f"unknown baseline {policy!r}; one of {', '.join(BASELINES)}")
    return f"baselines/{policy}/{env}"


def baseline_episodes_csv(policy: str, env: str) -> str:
    return f"{baseline_dir(policy, env)}/episodes.csv"


def baseline_summary_json(policy: str, env: str) -> str:
    return f"{baseline_dir(policy, env)}/summary.json"


def random_dir(env: str) -> str:
    return baseline_dir("random", env)


def random_episodes_csv(env) -> str:
    return baseline_episodes_csv("random", env)


def random_summary_json(env) -> str:
    return baseline_summary_json("random", env)


SUMMARY_TABLE = "tables/summary.csv"
CURVES_TABLE = "tables/learning_curves.csv"
#: every evaluation in marl-eval's JSON structure (psmarl.exports)
MARL_EVAL_JSON = "tables/marl_eval.json"
STATISTICS_TABLE = "tables/statistics.csv"
DIFFERENCES_TABLE = "tables/sharing_differences.csv"
IMPROVEMENT_TABLE = "tables/probability_of_improvement.csv"
PAPER_TABLE = "tables/paper_comparison.csv"
MISSING_TABLE = "tables/missing_runs.csv"
THEORY_TABLE = "theory/mailp_bounds.csv"
CONFIG_RECORD = "report/config.yaml"


def learning_curve_figure(env: str, ext: str) -> str:
    return f"figures/learning_curve_{env}.{ext}"


def paper_figure(figure: int | str, env: str, ext: str) -> str:
    """The paper's Figure 3, 4 or 5 of one env."""
    return f"figures/figure{figure}_{env}.{ext}"


def sharing_summary_figure(ext: str) -> str:
    return f"figures/sharing_summary.{ext}"


def theory_figure(ext: str) -> str:
    """Figure 1 of the paper (MAILP theory)."""
    return f"figures/figure1_mailp.{ext}"


def log_file(stage: str, *parts: Any) -> str:
    return "logs/" + stage + "/" + "/".join(str(p) for p in parts) + ".log"


def root_of(path: str | os.PathLike, rel: str) -> str:
    """The results root of ``path``, a file at layout path ``rel`` under it (the workflow
    derives a job's ``--root`` from its own input or output files this way)."""
    p, r = Path(path).as_posix(), Path(rel).as_posix()
    if p == r:
        return "."
    if not p.endswith("/" + r):
        raise ValueError(f"{path} is not at the layout path {rel} of a results folder")
    return p[: -len(r) - 1]


# ---------------------------------------------------------------- atomic writers
def _tmp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    tmp = _tmp_beside(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: str | os.PathLike, obj: Mapping[str, Any]) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_csv_atomic(path: str | os.PathLike, df: pd.DataFrame) -> None:
    write_text_atomic(path, df.to_csv(index=False))


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link of ``src`` at ``dst``, or a copy where the filesystem has no links."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def replace_dir_atomic(
    src: str | os.PathLike, dst: str | os.PathLike, *, link: bool = False
) -> None:
    """Copy directory ``src`` to ``dst`` so that ``dst`` appears complete or not at all
    (a kill between the two renames leaves no ``dst``, never a partial one). ``link``: hard
    links instead of copies where the filesystem allows (for folders whose files are never
    changed in place, only replaced: checkpoints)."""
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.new")  # a fixed name: a killed copy is replaced
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp, copy_function=_link_or_copy if link else shutil.copy2)
        if dst.exists():
            old = dst.with_name(f".{dst.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_checkpoint_atomic(
    target: str | os.PathLike, fill: Callable[[Path], None], meta: Mapping[str, Any]
) -> None:
    """Replace checkpoint folder ``target``: ``fill(tmp)`` writes the files into a fresh
    sibling folder, psmarl's ``RUN_META`` is written last (its presence marks the checkpoint
    complete), then the folders are swapped, so ``target`` is always a whole checkpoint."""
    target = Path(target)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fill(tmp)
    write_json_atomic(tmp / RUN_META, meta)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- checked readers
# Every reader of a stage's files goes through these: a file that is missing, cut off or
# damaged is an InputError naming the file, what is wrong and how to redo it, never a
# traceback or a silently wrong table (docs/reliability.md).

#: Keys every reader relies on, per file kind.
TRAIN_SUMMARY_KEYS = ("iterations", "env_steps", "episodes")
EVAL_SUMMARY_KEYS = ("episodes", "mean", "std", "ci95_low", "ci95_high")
RANDOM_SUMMARY_KEYS = ("episodes", "mean", "ci95_low", "ci95_high")
RUN_META_KEYS = ("agent_to_module",)


def workflow_output(path: str | os.PathLike) -> Path:
    """The workflow output that holds ``path``: the checkpoint folder for a file inside
    one, else the file itself."""
    p = Path(path)
    parts = p.parts
    if "checkpoint" in parts[:-1]:
        return Path(*parts[: parts.index("checkpoint") + 1])
    return p


def redo_hint(path: str | os.PathLike) -> str:
    out = workflow_output(path)
    return (
        f"redo the job that wrote it: run the workflow again with --forcerun {out} "
        f"(e.g. ./run.sh --forcerun {out}, with the same --configfile as before)"
    )


def damaged(path: str | os.PathLike, what: str, redo: str | None = None) -> InputError:
    """The error for a file that exists but cannot be trusted; ``redo`` says how to make it
    again (default: :func:`redo_hint`, rerun the job of the workflow that wrote it)."""
    return InputError(f"{path}: {what}; {redo or redo_hint(path)}")


def remove_work_dir(work: str | os.PathLike) -> None:
    """Delete a run's ``.work`` folder, its checkpoint's ``RUN_META`` first: a kill during
    the removal never leaves a checkpoint that looks complete but lacks files."""
    work = Path(work)
    (work / "checkpoint" / RUN_META).unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)


def keep_final_state(work: str | os.PathLike, final: str | os.PathLike) -> None:
    """After a run was published: its ``.work`` (complete final checkpoint, progress rows,
    attempt log) becomes ``final`` (:func:`final_state_dir`), replacing an older one; an
    incomplete ``.work`` (a kill inside :func:`remove_work_dir`) is deleted instead."""
    work, final = Path(work), Path(final)
    if not (work / "checkpoint" / RUN_META).exists():
        remove_work_dir(work)
        return
    remove_work_dir(final)  # RUN_META first: a kill never leaves a whole-looking old one
    os.replace(work, final)


def set_aside_work_dir(work: str | os.PathLike) -> Path:
    """Move a run's ``.work`` folder aside, beside it (``.work-superseded-<UTC time>``),
    and return where it went: an unfinished run of another spec is kept, never resumed and
    never deleted (:meth:`psmarl.run_loop.RunLoop.saved_state`)."""
    import datetime as _dt

    work = Path(work)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = work.with_name(f"{work.name}-superseded-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = work.with_name(f"{work.name}-superseded-{stamp}-{n}")
    os.replace(work, aside)
    return aside


def publish_run(
    run: str | os.PathLike,
    checkpoint: str | os.PathLike,
    progress: pd.DataFrame,
    summary: Mapping[str, Any],
    work: str | os.PathLike,
) -> None:
    """Publish a finished training run (RLlib's and BenchMARL's loops): the checkpoint first
    (hard links of ``checkpoint``'s files where the filesystem allows), then
    ``progress.csv``, then ``train_summary.json`` (the last to appear; readers check the
    progress rows against it); then ``.work`` becomes the run's kept final state
    (:func:`keep_final_state`). A kill at any point leaves either the ``.work`` state to
    resume from, or every output complete."""
    run = Path(run)
    replace_dir_atomic(checkpoint, run / "checkpoint", link=True)
    write_csv_atomic(run / "progress.csv", progress)
    write_json_atomic(run / "train_summary.json", summary)
    keep_final_state(work, final_state_dir(run))


def read_json(
    path: str | os.PathLike, required: Sequence[str] = (), redo: str | None = None
) -> dict[str, Any]:
    """A JSON object with at least the ``required`` keys, or an InputError naming the file
    (and ``redo``, how to make it again: see :func:`damaged`)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise damaged(path, f"cannot be read ({e})", redo) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        what = (
            "is empty"
            if not text.strip()
            else (
                f"is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}: cut off "
                "or damaged)"
            )
        )
        raise damaged(path, what, redo) from None
    if not isinstance(data, dict):
        raise damaged(path, f"holds a JSON {type(data).__name__}, not an object", redo)
    missing = [k for k in required if k not in data]
    if missing:
        raise damaged(path, f"lacks the key(s) {', '.join(missing)}", redo)
    return data


def read_csv(
    path: str | os.PathLike, required: Sequence[str] = (), redo: str | None = None, **kwargs
) -> pd.DataFrame:
    """A CSV table with at least the ``required`` columns that ends with a complete line
    (a file cut inside a row does not), or an InputError naming the file (and ``redo``)."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size:
                fh.seek(-1, os.SEEK_END)
                last = fh.read(1)
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except OSError as e:
        raise damaged(path, f"cannot be read ({e})", redo) from None
    if not size:
        raise damaged(path, "is empty", redo)
    if last != b"\n":
        raise damaged(path, "ends inside a row (the file was cut off)", redo)
    try:
        df = pd.read_csv(p, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise damaged(path, f"is not a readable CSV table ({str(e).strip()})", redo) from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise damaged(path, f"lacks the column(s) {', '.join(missing)}", redo)
    return df


def check_progress(
    df: pd.DataFrame,
    summary: Mapping[str, Any],
    path: str | os.PathLike,
    summary_path: str | os.PathLike,
    redo: str | None = None,
) -> None:
    """A run's progress rows agree with its train summary: iterations 1..N, N the summary's
    iterations, and the last row's env steps and episodes the summary's totals."""
    n = summary["iterations"]
    for col in ("iteration", "env_steps", "episodes"):
        if df[col].isna().any():
            raise damaged(path, f"has rows without {col} (cut off or damaged)", redo)
    if len(df) != n or list(df["iteration"]) != list(range(1, n + 1)):
        raise damaged(
            path,
            f"has {len(df)} row(s) of iterations, but {summary_path} says {n} (cut off or damaged)",
            redo,
        )
    if n:
        last = df.iloc[-1]
        for col in ("env_steps", "episodes"):
            if int(last[col]) != int(summary[col]):
                raise damaged(
                    path,
                    f"ends at {col} {int(last[col])}, but {summary_path} "
                    f"says {summary[col]} (cut off or damaged)",
                    redo,
                )


def read_progress(
    progress: str | os.PathLike,
    summary: str | os.PathLike,
    redo: str | None = None,
    usecols: Callable[[str], bool] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A finished run's progress rows (``progress.csv``), checked against its train summary
    (both returned); ``usecols`` picks the returned columns."""
    s = read_json(summary, TRAIN_SUMMARY_KEYS, redo)
    df = read_csv(progress, REQUIRED_PROGRESS_COLUMNS, redo)
    check_progress(df, s, progress, summary, redo)
    if usecols is not None:
        df = df[[c for c in df.columns if usecols(c)]]
    return df, s


def read_run_progress(
    root: str | os.PathLike,
    job: Sequence,
    usecols: Callable[[str], bool] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`read_progress` of the run ``job`` = (env, method, sharing, seed) under ``root``."""
    root = Path(root)
    return read_progress(
        root / progress_csv(*job), root / train_summary_json(*job), usecols=usecols
    )


def find_damaged_file(folder: str | os.PathLike) -> tuple[Path, str] | None:
    """The first file under ``folder`` that does not load as what its suffix says (JSON,
    pickle, a torch ``.pt`` zip archive), with what is wrong; None if all load. For naming
    the culprit after a library failed to load a checkpoint."""
    import pickle
    import zipfile

    for f in sorted(Path(folder).rglob("*")):
        if not f.is_file():
            continue
        try:
            if f.suffix == ".json":
                json.loads(f.read_text())
            elif f.suffix == ".pkl":
                with open(f, "rb") as fh:
                    pickle.load(fh)
            elif f.suffix == ".pt":
                with zipfile.ZipFile(f) as z:
                    if z.testzip() is not None:
                        raise zipfile.BadZipFile("a member fails its CRC check")
            else:
                continue
        except Exception as e:  # noqa: BLE001 - any failure to load names the file
            what = (
                "is empty"
                if f.stat().st_size == 0
                else (f"does not load ({type(e).__name__}: {str(e).strip() or 'cut off'})")
            )
            return f, what
    return None


def read_progress_rows(path: str | os.PathLike, upto: int) -> list[dict[str, Any]]:
    """The rows of an unfinished run's ``progress.jsonl`` up to iteration ``upto``, one per
    iteration in order (a torn last line from a kill is skipped; none if the file is
    missing)."""
    path = Path(path)
    if not path.exists():
        return []
    rows: dict[int, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and int(row.get("iteration", upto + 1)) <= upto:
            rows[int(row["iteration"])] = row
    return [rows[i] for i in sorted(rows)]


def recover_checkpoint(target: str | os.PathLike) -> Path | None:
    """Finish a :func:`write_checkpoint_atomic` that a kill cut between its two renames
    (``target`` gone, the complete new or old folder beside it). Returns ``target`` if it
    now holds a complete checkpoint, else None."""
    target = Path(target)
    if (target / RUN_META).exists():
        return target
    for side in (target.with_name(f".{target.name}.tmp"), target.with_name(f".{target.name}.old")):
        if (side / RUN_META).exists():
            shutil.rmtree(target, ignore_errors=True)
            os.replace(side, target)
            return target
    return None


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
