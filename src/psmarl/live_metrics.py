"""Where a run's curves go while it trains: TensorBoard event files in the run folder.

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

import math
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: columns that are not curves (the step itself, bookkeeping)
NOT_SCALARS = ("iteration", "env_steps")


def tag(column: str) -> str:
    """TensorBoard tag of a progress column: module and agent columns keep their
    ``<module>/<stat>`` name, the run's own measures go under ``run/``."""
    return column if "/" in column else f"run/{column}"


class TensorBoardLog:
    """The TensorBoard event files of one run."""

    def __init__(self, folder: str | Path, resume_after_step: int | None = None,
                 resume_wall: float = 0.0):
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
        self.writer = SummaryWriter(logdir=str(self.folder), purge_step=purge, flush_secs=30,
                                    filename_suffix=f".{time.time_ns()}")
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
