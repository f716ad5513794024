"""psmarl: parameter sharing in multi-agent deep RL, reproduced as a workflow."""

__version__ = "0.1.0"
