"""Environment variables every psmarl process sets for itself at import (``psmarl/__init__``),
before any library reads them; child processes (evaluation workers, Ray's processes)
inherit them. Each is a default: a value already in the environment wins.

- ``SDL_NO_SIGNAL_HANDLERS=1``: pygame's ``SDL_Init``, which pursuit's and MPE's
  constructors call (``pygame.init()``), otherwise installs C handlers that turn SIGINT and
  SIGTERM into SDL quit events nobody reads. A process holding such an env ignores
  ``kill``, Slurm's and Snakemake's SIGTERM and ``multiprocessing``'s ``terminate()``: the
  cause of evaluations that hung after their last play (issue 18, ``docs/reliability.md``).
- ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``: Ray's single-node mode. Ray then takes the
  loopback address as the node's address and binds GCS, raylet, workers and the
  runtime-env agent to 127.0.0.1 instead of every interface (read when ``ray`` is
  imported, so it must be set before; ``psmarl.train.start_processes`` checks the result).
- ``RAY_USAGE_STATS_ENABLED=0``: no usage report from Ray's processes.
"""

from __future__ import annotations

import os

DEFAULTS = {
    "SDL_NO_SIGNAL_HANDLERS": "1",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
}


def apply() -> None:
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
