"""The run loop of one (env, method, sharing, seed) training run, whatever trains it.

A backend (RLlib for the single-agent methods, BenchMARL for MADDPG and QMIX) trains; this
module owns everything else, once for both:

- the budget (env steps, episodes or iterations) and when it is reached;
- the progress rows: counters, psmarl's measure (mean total reward of the last 100 training
  episodes of every runner) and the paper's (old RLlib's ``episode_reward_mean``: its
  window, and for Ape-X only its last third of runners);
- the checkpoint cadence, and resuming a run that was cut off (SIGKILL included);
- the log line (progress, speed and time left) and the TensorBoard curves
  (:mod:`psmarl.live_metrics`);
- publishing the outputs and the summary.

State of an unfinished run lives in ``<run>/.work``: the latest checkpoint (replaced
atomically every ``checkpoint_every`` iterations, with the loop's own state beside the
backend's in :data:`psmarl.results.RUN_META`) and the progress rows so far
(``progress.jsonl``, one line appended per iteration). A run started again restores that
checkpoint and drops rows newer than it, so ``progress.csv`` never has duplicate or missing
iterations. The workflow outputs (``checkpoint/``, ``progress.csv``,
``train_summary.json``, in that order) appear only when the budget is reached.
Only a checkpoint of the same run spec is resumed (the budget, the checkpoint cadence and
the runtime may change between attempts: :data:`RESUMABLE_CHANGES`); one trained with other
settings, or past the budget (a budget lowered below what the run had trained), is moved
aside (``.work-superseded-<time>``) and the run trains afresh.

A published run keeps its ``.work`` as ``.final`` (its checkpoint files are hard links of the
published ones). When the budget is raised, Snakemake deletes the run's outputs and starts
the job again; the run then continues from ``.final`` (its final checkpoint, rows and log)
to the new budget instead of training again from zero. Any other restart of a finished run
(settings changed, budget lowered or unchanged, e.g. ``--forcerun``) removes ``.final``
and trains afresh, as Snakemake asked.

A backend is anything with the methods of :class:`Backend`; see ``psmarl.train`` (RLlib)
and ``psmarl.benchmarl_backend.train`` (BenchMARL).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from psmarl import results
from psmarl.errors import ConfigError, InputError
from psmarl.live_metrics import TensorBoardLog, WandbLog, wandb_settings_from_env

#: RLlib 0.x's ``metrics_smoothing_episodes``: the window of the paper's measure
SMOOTHING_EPISODES = 100
BUDGET_KEYS = ("env_steps", "episodes", "iterations")
#: each budget key's counter in the loop state and in the progress rows
BUDGET_COUNTERS = {"env_steps": "env_steps", "episodes": "episodes", "iterations": "iteration"}
#: run-spec keys a resumed run may change: how far it trains, how often it checkpoints and
#: the machine it runs on (cores, runners); any other change trains the run afresh
RESUMABLE_CHANGES = ("budget", "checkpoint_every", "runtime")


def check_budget(budget: Mapping[str, Any]) -> tuple[str, int]:
    """``training.budget`` -> (its one key, its value), or a ConfigError naming the key."""
    keys = [k for k in BUDGET_KEYS if budget.get(k) is not None]
    if len(keys) != 1:
        raise ConfigError(
            "give exactly one of env_steps, episodes or iterations", key="training.budget"
        )
    k = keys[0]
    v = budget[k]
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise ConfigError(f"must be a positive integer, got {v!r}", key=f"training.budget.{k}")
    return k, v


def check_checkpoint_every(spec: Mapping[str, Any]) -> int:
    every = spec.get("checkpoint_every", 10)
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ConfigError(
            f"must be a positive integer, got {every!r}", key="training.checkpoint_every"
        )
    return every


@dataclass
class Iteration:
    """What a backend reports after one training iteration."""

    #: env steps sampled in this iteration (parallel env steps: all agents step together)
    env_steps: int
    #: total reward (sum over agents) of every episode that ended in this iteration
    episode_returns: list[float]
    #: episodes that ended in this iteration (default: ``len(episode_returns)``)
    episodes: int | None = None
    #: the episodes the paper's RLlib would have reported (Ape-X: its last third of
    #: runners); None: all of them
    paper_returns: list[float] | None = None
    #: samples the learner trained on in this iteration (replay-based methods), if known
    samples_trained: int | None = None
    #: the backend's own columns for this row (losses, per-module returns, ...)
    columns: dict[str, float] = field(default_factory=dict)


class Backend(Protocol):
    """What the run loop needs from a training library."""

    def run(self, record: Callable[[Iteration], bool]) -> None:
        """Train, calling ``record`` after every iteration, until it returns True."""

    def save(self, folder: Path) -> None:
        """Write the backend's state (a checkpoint it can restore) into ``folder``."""

    def meta(self) -> dict[str, Any]:
        """The checkpoint's description for its readers (``agent_to_module``, ...)."""

    def close(self) -> None:
        """Release processes and memory."""


def _plain(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A run spec as its JSON has it (what checkpoints and summaries keep)."""
    return json.loads(json.dumps(dict(spec), default=str))


def spec_changes(saved: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, Any]:
    """``{dotted key: (saved value, current value)}`` for every setting in which two run
    specs differ, but for :data:`RESUMABLE_CHANGES`. A checkpoint written before run specs
    were kept in it (``saved`` None) has no known changes."""
    if saved is None:
        return {}
    out: dict[str, Any] = {}

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}.{k}" if path else k)
        elif a != b:
            out[path] = (a, b)

    a, b = _plain(saved), _plain(current)
    for k in RESUMABLE_CHANGES:
        a.pop(k, None)
        b.pop(k, None)
    walk(a, b, "")
    return out


def old_rllib_mean(history: Sequence[float], new: Sequence[float], window: int) -> float:
    """Old RLlib's ``episode_reward_mean``: the mean over the episodes that ended in this
    iteration, topped up with the latest earlier ones (``history``) to ``window`` episodes
    when fewer ended (``metrics_smoothing_episodes``)."""
    vals = list(new)
    missing = window - len(vals)
    if missing > 0 and len(history):
        vals = list(history)[-missing:] + vals
    return float(np.mean(vals)) if vals else float("nan")


def summarize_progress(df: pd.DataFrame) -> dict[str, Any]:
    """Best (maximum) average total reward of a training curve and where it was reached:
    psmarl's measure and the paper's (``paper_*`` columns; a curve without them has the
    paper's measure = psmarl's)."""
    out: dict[str, Any] = {
        "best_avg_total_reward": None,
        "episodes_at_best": None,
        "final_avg_total_reward": None,
        "paper_best_avg_total_reward": None,
        "paper_episodes_at_best": None,
    }
    if df.empty:
        return out
    for prefix, (y, x) in (("", ("avg_total_reward", "episodes")), ("paper_", paper_columns(df))):
        if y not in df or df[y].isna().all():
            continue
        i = df[y].idxmax()
        out[f"{prefix}best_avg_total_reward"] = float(df.loc[i, y])
        out[f"{prefix}episodes_at_best"] = int(df.loc[i, x])
        if not prefix:
            out["final_avg_total_reward"] = float(df[y].dropna().iloc[-1])
    return out


def paper_columns(df: pd.DataFrame) -> tuple[str, str]:
    """(reward, episodes) columns of the paper's measure in a progress table: the
    ``paper_*`` ones, or psmarl's where a run has none (older runs)."""
    if "paper_avg_total_reward" in df and df["paper_avg_total_reward"].notna().any():
        return "paper_avg_total_reward", "paper_episodes"
    return "avg_total_reward", "episodes"


def format_duration(seconds: float) -> str:
    """``1h05m``, ``4m12s``, ``37s``; ``?`` when unknown."""
    if not np.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class RunLoop:
    """Budget, progress rows, windows, checkpoints, resume and publishing of one run.

    ``paper_window``: the window of the paper's measure (old RLlib's
    ``metrics_smoothing_episodes``, 100 unless a method's ``paper_measure`` says otherwise).
    """

    def __init__(
        self,
        spec: Mapping[str, Any],
        run_dir: str | os.PathLike,
        log: Callable[[str], None] | None = None,
        paper_window: int = SMOOTHING_EPISODES,
        tensorboard: bool = True,
        summary: Mapping[str, Any] | None = None,
    ):
        self.spec = spec
        self.run = Path(run_dir)
        self.log = log or (lambda m: print(m, file=sys.stderr, flush=True))
        self.budget_key, self.budget = check_budget(spec["budget"])
        self.every = check_checkpoint_every(spec)
        self.work = self.run / ".work"
        self.ckpt = self.work / "checkpoint"
        self.progress_file = self.work / "progress.jsonl"
        self.it = self.env_steps = self.episodes = self.paper_episodes = 0
        self.wall = 0.0
        self.samples_trained: int | None = None
        self.window: deque[float] = deque(maxlen=SMOOTHING_EPISODES)
        self.paper_window: deque[float] = deque(maxlen=int(paper_window))
        self.rows: list[dict[str, Any]] = []
        self.last_ckpt = 0
        self.backend: Backend | None = None
        self.tensorboard = tensorboard
        # the trainer's own entries of train_summary.json (e.g. the env backend)
        self.summary_extra = dict(summary or {})
        # where each row's curves go as the run trains (psmarl.live_metrics)
        self.sinks: list[TensorBoardLog | WandbLog] = []
        # this attempt's start: its speed gives the time left (earlier attempts of a resumed
        # run may have run on another machine)
        self._t0 = time.time()
        self._progress0 = self._steps0 = 0
        self._wall0 = 0.0

    # ------------------------------------------------------------ resume
    def published(self) -> dict[str, Any] | None:
        """The summary of this very run if it was already published complete (its summary,
        progress rows and checkpoint there, for the same spec), else None. A job started
        again after a kill that came after publishing (e.g. during the backend's shutdown)
        then has nothing to do: it must not train the finished run again from scratch."""
        summary_file = self.run / "train_summary.json"
        if not summary_file.exists() or not (self.run / "checkpoint" / results.RUN_META).exists():
            return None
        try:
            summary = results.read_json(summary_file, results.TRAIN_SUMMARY_KEYS)
            df = results.read_csv(self.run / "progress.csv", results.REQUIRED_PROGRESS_COLUMNS)
            results.check_progress(df, summary, self.run / "progress.csv", summary_file)
        except InputError:
            return None  # damaged: train it again
        if summary.get("spec") != _plain(self.spec):
            return None  # another run's outputs: this spec trains afresh
        # what a kill inside the last step left: the state kept to continue the run
        results.keep_final_state(self.work, results.final_state_dir(self.run))
        self.log(
            f"already complete: {summary_file} ({summary['iterations']} iterations, "
            f"{summary['env_steps']} env steps); nothing to train"
        )
        return summary

    def saved_state(self) -> dict[str, Any] | None:
        """The loop state of the last checkpoint of an unfinished run of this spec, else
        None. A checkpoint trained with other settings (:func:`spec_changes`) is not resumed:
        a changed setting must not continue a run trained without it. Its ``.work`` is moved
        aside, kept whole, and logged."""
        if results.recover_checkpoint(self.ckpt) is None:  # after a kill between two renames
            return None
        state = results.read_json(self.ckpt / results.RUN_META)
        why = self._not_resumable(state, self.work)
        if why is None:
            return state
        aside = results.set_aside_work_dir(self.work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.log(
            f"not resuming the checkpoint at iteration {state.get('iteration')}: {why}; "
            f"kept in {aside}; training afresh"
        )
        return None

    def _not_resumable(self, state: Mapping[str, Any], work: Path) -> str | None:
        """Why the run state ``state`` (a checkpoint's ``RUN_META``, its rows in ``work``)
        cannot be continued under this spec, or None: trained with other settings
        (:func:`spec_changes`), or past the budget (it would have stopped iterations ago)."""
        changes = spec_changes(state.get("spec"), self.spec)
        if changes:
            shown = "; ".join(
                f"{k}: {old!r} -> {new!r}" for k, (old, new) in list(changes.items())[:6]
            )
            more = f"; and {len(changes) - 6} more" if len(changes) > 6 else ""
            return f"it was trained with other settings ({shown}{more})"
        loop = state.get("loop", state)
        it = int(loop.get("iteration", 0))
        rows = results.read_progress_rows(work / "progress.jsonl", it - 1)
        before = rows[-1].get(BUDGET_COUNTERS[self.budget_key], 0) if rows and it > 1 else 0
        if it > 1 and int(before) >= self.budget:
            return (
                f"it had trained past the budget of {self.budget} {self.budget_key} "
                f"({before} by iteration {it - 1})"
            )
        return None

    def _continue_finished(self) -> None:
        """A published run started again (its outputs deleted by Snakemake): continue it
        from its kept final state (``.final`` becomes ``.work``) when the budget was raised
        above what it trained; otherwise (other settings, or a budget it already reached:
        ``--forcerun``) remove that state, and the run trains afresh."""
        final = results.final_state_dir(self.run)
        if not final.exists() or results.recover_checkpoint(self.ckpt) is not None:
            return  # nothing kept, or an unfinished attempt comes first
        meta = final / "checkpoint" / results.RUN_META
        state: dict[str, Any] = results.read_json(meta) if meta.exists() else {}
        why = self._not_resumable(state, final) if state else "its checkpoint is incomplete"
        if why is None:
            loop = state.get("loop", state)
            trained = int(loop.get(BUDGET_COUNTERS[self.budget_key], 0))
            if trained >= self.budget:
                why = (
                    f"it already reached the budget ({trained} of {self.budget} {self.budget_key})"
                )
        if why is not None:
            results.remove_work_dir(final)
            self.log(f"not continuing the finished run kept in {final}: {why}; training afresh")
            return
        results.remove_work_dir(self.work)
        os.replace(final, self.work)
        self.log(
            f"continuing the finished run from iteration {state.get('iteration')} to the raised "
            f"budget of {self.budget} {self.budget_key}"
        )

    def start(self) -> Path | None:
        """Prepare ``.work``; restore the loop's state from the last checkpoint if there is
        one and return that checkpoint's folder (the backend restores its own state from
        it), else None. A finished run whose budget was raised continues from its kept
        final state (:meth:`_continue_finished`)."""
        self._continue_finished()
        self.work.mkdir(parents=True, exist_ok=True)
        state = self.saved_state()
        if state is None:
            results.write_text_atomic(self.progress_file, "")
            self._t0 = time.time()
            self._open_tensorboard(None)
            return None
        loop = state.get("loop", state)  # older checkpoints kept the counters at the top
        self.it, self.env_steps = int(loop["iteration"]), int(loop["env_steps"])
        self.episodes, self.wall = int(loop["episodes"]), float(loop["wall_seconds"])
        self.window.extend(loop.get("return_window", []))
        self.paper_window.extend(loop.get("paper_return_window", []))
        self.paper_episodes = int(loop.get("paper_episodes", self.episodes))
        self.samples_trained = loop.get("samples_trained")
        self.last_ckpt = self.it
        self.rows = results.read_progress_rows(self.progress_file, self.it)
        results.write_text_atomic(
            self.progress_file, "".join(json.dumps(r) + "\n" for r in self.rows)
        )
        self._t0, self._progress0, self._steps0 = time.time(), self.progress(), self.env_steps
        self._wall0 = self.wall
        self._open_tensorboard(self.env_steps)
        self.log(
            f"resumed from iteration {self.it} ({self.env_steps} env steps, "
            f"{self.episodes} episodes)"
        )
        return self.ckpt

    def _open_tensorboard(self, resume_after_step: int | None) -> None:
        """Open the live curves: TensorBoard, and W&B when the job was started with it
        (:data:`psmarl.live_metrics.WANDB_ENV`)."""
        if self.tensorboard:
            self.sinks.append(
                TensorBoardLog(self.run / results.TENSORBOARD_DIR, resume_after_step, self.wall)
            )
        wandb = wandb_settings_from_env()
        if wandb is not None:
            s = self.spec
            name = f"{s['env']['name']}/{s['method']}/{s['sharing']}/seed{s['seed']}"
            self.sinks.append(WandbLog(wandb, self.run, name, s))

    # ------------------------------------------------------------ the loop
    def progress(self) -> int:
        return {"env_steps": self.env_steps, "episodes": self.episodes, "iterations": self.it}[
            self.budget_key
        ]

    def reached(self) -> bool:
        return self.progress() >= self.budget

    def train(self, backend: Backend) -> dict[str, Any]:
        """Run ``backend`` until the budget is reached (nothing to do for a run whose last
        checkpoint already reached it), then publish the run; returns its summary."""
        self.backend = backend
        try:
            if not self.reached():
                backend.run(self.record)
            if self.last_ckpt != self.it or not self.ckpt.exists():
                self.save()
        finally:
            backend.close()
            for sink in self.sinks:
                sink.close()
        return self.publish()

    def record(self, step: Iteration) -> bool:
        """Book one iteration: counters, windows, the progress row, the log line and, when
        due, a checkpoint. True once the budget is reached."""
        self.it += 1
        self.env_steps += int(step.env_steps)
        n_eps = len(step.episode_returns) if step.episodes is None else int(step.episodes)
        self.episodes += n_eps
        self.window.extend(step.episode_returns)
        paper_new = step.episode_returns if step.paper_returns is None else step.paper_returns
        paper_mean = old_rllib_mean(self.paper_window, paper_new, self.paper_window.maxlen or 1)
        self.paper_window.extend(paper_new)
        self.paper_episodes += n_eps if step.paper_returns is None else len(paper_new)
        if step.samples_trained is not None:
            self.samples_trained = int(self.samples_trained or 0) + int(step.samples_trained)
        # wall time over all attempts: the earlier ones' (restored) plus this one's
        self.wall = self._wall0 + time.time() - self._t0
        row = {
            "iteration": self.it,
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            "wall_seconds": round(self.wall, 3),
            # psmarl's measure: mean total reward of the last 100 episodes of every runner
            "avg_total_reward": float(np.mean(self.window)) if self.window else float("nan"),
            # the paper's: old RLlib's episode_reward_mean (its window, its runners)
            "paper_avg_total_reward": paper_mean,
            "paper_episodes": self.paper_episodes,
            "samples_trained": (
                float("nan") if self.samples_trained is None else self.samples_trained
            ),
            **step.columns,
        }
        self.rows.append(row)
        with open(self.progress_file, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        for sink in self.sinks:
            sink.row(row)
        self.log(self.progress_line(row))
        done = self.reached()
        if done or self.it - self.last_ckpt >= self.every:
            self.save()
        return done

    def progress_line(self, row: Mapping[str, Any]) -> str:
        """The log line of an iteration: counters, budget fraction, the average total
        reward, env steps per second and the time left at this attempt's speed."""
        elapsed = time.time() - self._t0
        done = self.progress() - self._progress0
        left = max(self.budget - self.progress(), 0)
        eta = elapsed / done * left if done > 0 else float("nan")
        rate = (self.env_steps - self._steps0) / elapsed if elapsed > 0 else float("nan")
        return (
            f"iter {self.it:4d}  env_steps {self.env_steps:8d}  episodes "
            f"{self.episodes:6d}  avg_total_reward {row['avg_total_reward']:9.2f}  "
            f"{min(self.progress() / self.budget, 1) * 100:5.1f}% of {self.budget} "
            f"{self.budget_key}  {self.wall:7.1f}s  {rate:6.0f} steps/s  "
            f"ETA {format_duration(eta)}"
        )

    # ------------------------------------------------------------ checkpoints, outputs
    def loop_state(self) -> dict[str, Any]:
        return {
            "iteration": self.it,
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            "wall_seconds": self.wall,
            "return_window": list(self.window),
            "paper_return_window": list(self.paper_window),
            "paper_episodes": self.paper_episodes,
            "samples_trained": self.samples_trained,
        }

    def save(self) -> None:
        """Replace the run's checkpoint atomically (backend state + loop state)."""
        assert self.backend is not None
        backend = self.backend
        state = self.loop_state()
        # the counters stay at the top level too: readers of checkpoints (evaluation, the
        # figures) and runs written before the loop had its own key read them there
        meta = {**state, **backend.meta(), "loop": state, "spec": dict(self.spec)}
        results.write_checkpoint_atomic(self.ckpt, backend.save, meta)
        self.last_ckpt = self.it

    def publish(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Publish the finished run: checkpoint, progress.csv, then the summary (the last
        to appear, so a run with a summary is complete); remove ``.work``."""
        df = pd.DataFrame(self.rows)
        meta = self.backend.meta() if self.backend is not None else {}
        summary = {
            "env": self.spec["env"]["name"],
            "preset": self.spec["env"]["preset"],
            **self.summary_extra,
            "method": self.spec["method"],
            "sharing": self.spec["sharing"],
            "seed": self.spec["seed"],
            "iterations": self.it,
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            "wall_seconds": round(self.wall, 2),
            "modules": sorted(set(meta.get("agent_to_module", {}).values())),
            **summarize_progress(df),
            "spec": dict(self.spec),
            **meta.get("summary", {}),
            **(extra or {}),
        }
        results.publish_run(self.run, self.ckpt, df, summary, self.work)
        return summary
