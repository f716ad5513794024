"""The log of a resumable training job across restarts.

Snakemake deletes a job's log file when the job starts, so after a restart (a killed run
started again, a Slurm requeue, ``--retries``) the lines of earlier attempts would be gone.
``psmarl train`` and ``psmarl marl-train`` therefore also append what they log to the run's
``.work/log`` (``psmarl.results.attempt_log``), which lives as long as the unfinished run;
each start first copies the earlier attempts from there into the new log, then writes a
marker line naming the attempt, time, host and pid. An attempt that fails adds its error to
``.work/log`` too. Library output that bypasses psmarl's log (Ray, torch warnings) is in
the job log of its own attempt only.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import socket
import sys
from pathlib import Path
from typing import TextIO

MARKER = "===="


class AttemptLog:
    """A log callable: each message goes to ``stream`` (the job's log) and is appended to
    ``history``. :meth:`start` replays earlier attempts and writes this attempt's marker."""

    def __init__(self, history: str | os.PathLike, stage: str, stream: TextIO | None = None):
        self.history = Path(history)
        self.stage = stage
        self.stream = stream

    def _out(self) -> TextIO:
        return self.stream or sys.stderr

    def _append(self, text: str) -> None:
        if not self.history.parent.is_dir():  # the run was published: .work is gone
            return
        with open(self.history, "a") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    def start(self) -> int:
        """Replay earlier attempts into the stream, write this start's marker (both places);
        returns this attempt's number (1 for a fresh run)."""
        earlier = self.history.read_text() if self.history.exists() else ""
        started = re.compile(rf"^{MARKER} {re.escape(self.stage)}: attempt \d+ started ")
        attempt = 1 + sum(1 for line in earlier.splitlines() if started.match(line))
        out = self._out()
        if earlier:
            out.write(
                f"{MARKER} earlier attempts of this run (kept in {self.history}; "
                f"Snakemake empties the job log at each start) {MARKER}\n{earlier}"
            )
            if not earlier.endswith("\n"):
                out.write("\n")
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        marker = (
            f"{MARKER} {self.stage}: attempt {attempt} started {now} on "
            f"{socket.gethostname()} (pid {os.getpid()}) {MARKER}\n"
        )
        out.write(marker)
        out.flush()
        self.history.parent.mkdir(parents=True, exist_ok=True)
        self._append(marker)
        return attempt

    def __call__(self, msg: str) -> None:
        out = self._out()
        out.write(msg + "\n")
        out.flush()
        self._append(msg + "\n")

    def failed(self, text: str) -> None:
        """Record why this attempt ended (the stream already has it)."""
        self._append(f"{MARKER} {self.stage}: attempt failed: {text.rstrip()}\n")
