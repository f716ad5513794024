"""psmarl: parameter sharing in multi-agent deep RL, reproduced as a workflow."""

from psmarl import process_defaults as _process_defaults

_process_defaults.apply()

__version__ = "0.1.0"
