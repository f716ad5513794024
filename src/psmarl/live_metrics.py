"""Where a run's curves go while it trains: TensorBoard event files in the run folder, and
optionally a Weights & Biases run (:class:`WandbLog`).

Written with tensorboardX (in the stack already: Ray depends on it) under
``<run>/tensorboard/`` (:data:`psmarl.results.TENSORBOARD_DIR`), one point per training
iteration at global step = env steps so far, flushed every iteration so that
``tensorboard --logdir results/runs`` shows a run as it trains. Every number of a progress
row is a scalar: psmarl's and the paper's average total reward, per-module (and per-agent)
returns, losses, counters, and the iteration's env steps per second.

Resume: a run cut off after its last checkpoint redoes the iterations after it. The writer
of the resumed run starts with ``purge_step`` = the first env step after that checkpoint,
which tells TensorBoard to drop the cut-off attempt's later points, so the curves have no
duplicate and no missing steps. A run started afresh removes any event files it finds.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from psmarl.errors import ConfigError

#: columns that are not curves (the step itself, bookkeeping)
NOT_SCALARS = ("iteration", "env_steps")


def tag(column: str) -> str:
    """TensorBoard tag of a progress column: module and agent columns keep their
    ``<module>/<stat>`` name, the run's own measures go under ``run/``."""
    return column if "/" in column else f"run/{column}"


class TensorBoardLog:
    """The TensorBoard event files of one run."""

    def __init__(
        self, folder: str | Path, resume_after_step: int | None = None, resume_wall: float = 0.0
    ):
        from tensorboardX import SummaryWriter

        self.folder = Path(folder)
        if resume_after_step is None:
            shutil.rmtree(self.folder, ignore_errors=True)
            purge = None
        else:
            purge = int(resume_after_step) + 1
        self.folder.mkdir(parents=True, exist_ok=True)
        # the file name has the start second and the host: an attempt that starts within the
        # same second as the one before would overwrite its file without a finer suffix
        self.writer = SummaryWriter(
            logdir=str(self.folder),
            purge_step=purge,
            flush_secs=30,
            filename_suffix=f".{time.time_ns()}",
        )
        # (env steps, wall seconds) of the previous point: the speed of the next iteration
        self._last = (int(resume_after_step or 0), float(resume_wall))

    def row(self, row: Mapping[str, Any]) -> None:
        """One progress row, at global step ``row['env_steps']``."""
        step = int(row["env_steps"])
        wall = float(row.get("wall_seconds", math.nan))
        for column, value in row.items():
            if column in NOT_SCALARS or isinstance(value, bool):
                continue
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(tag(column), float(value), step)
        if wall > self._last[1]:
            rate = (step - self._last[0]) / (wall - self._last[1])
            self.writer.add_scalar("run/env_steps_per_s", rate, step)
        self._last = (step, wall)
        self.writer.flush()

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        """Other scalars at one step (e.g. an evaluation of the final checkpoint)."""
        for name, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(name, float(value), int(step))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


# ---------------------------------------------------------------- Weights & Biases
#: the environment variable that switches W&B logging on for the training jobs: JSON with
#: the ``wandb`` config section (the workflow sets it from the config; an environment
#: variable and not a rule parameter, so that switching it reruns no finished job)
WANDB_ENV = "PSMARL_WANDB"
WANDB_MODES = ("offline", "online")
WANDB_KEYS = ("project", "entity", "group", "mode")


def wandb_settings_from_env() -> dict[str, Any] | None:
    """The ``wandb`` settings a training job was started with, or None (off)."""
    raw = os.environ.get(WANDB_ENV)
    if not raw:
        return None
    try:
        settings = json.loads(raw)
    except ValueError:
        raise ConfigError(f"${WANDB_ENV} is not JSON: {raw!r}", key="wandb") from None
    return check_wandb(settings)


def check_wandb(settings: Any) -> dict[str, Any] | None:
    """The config's ``wandb`` section, checked; None when W&B is off."""
    if settings in (None, False, {}):
        return None
    if not isinstance(settings, Mapping):
        raise ConfigError(
            f"must be a mapping ({', '.join(WANDB_KEYS)}), got {settings!r}", key="wandb"
        )
    bad = sorted(set(settings) - set(WANDB_KEYS))
    if bad:
        raise ConfigError(f"unknown key(s) {bad}; use {', '.join(WANDB_KEYS)}", key="wandb")
    from psmarl.defaults import section

    out = {**section("wandb"), **settings}
    if out["mode"] not in WANDB_MODES:
        raise ConfigError(
            f"must be one of {', '.join(WANDB_MODES)}, got {out['mode']!r}", key="wandb.mode"
        )
    return out


class WandbLog:
    """The same curves in a Weights & Biases run (the ``wandb`` extra).

    One W&B run per psmarl run, with a stable id derived from the run folder, so that the
    attempts of a resumed run are one W&B run (``resume="allow"``); its files go to
    ``<run>/wandb/``. Offline mode (the default) writes them for ``wandb sync`` and reaches
    no network."""

    def __init__(
        self, settings: Mapping[str, Any], run: Path, name: str, config: Mapping[str, Any]
    ):
        try:
            import wandb
        except ImportError:
            raise ConfigError(
                "W&B logging needs the wandb package: pip install -e '.[wandb]'", key="wandb"
            ) from None
        import hashlib

        self.folder = Path(run) / "wandb"
        self.folder.mkdir(parents=True, exist_ok=True)
        run_id = hashlib.sha256(str(Path(run).resolve()).encode()).hexdigest()[:16]
        self.run = wandb.init(
            project=settings["project"],
            entity=settings.get("entity"),
            group=settings.get("group"),
            mode=settings["mode"],
            dir=str(self.folder),
            name=name,
            id=run_id,
            resume="allow",
            config=dict(config),
            settings=wandb.Settings(silent=True, console="off"),
        )

    def row(self, row: Mapping[str, Any]) -> None:
        values = {
            tag(c): float(v)
            for c, v in row.items()
            if c not in NOT_SCALARS
            and not isinstance(v, bool)
            and isinstance(v, (int, float))
            and math.isfinite(v)
        }
        self.run.log(values, step=int(row["env_steps"]))

    def close(self) -> None:
        self.run.finish()
