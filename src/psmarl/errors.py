"""Errors that psmarl reports to the user with the offending key, file or value."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is invalid. ``key`` is the dotted config path."""

    def __init__(self, message: str, key: str | None = None):
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


class InputError(ValueError):
    """A file or path given to a stage is missing or malformed."""


class StageError(RuntimeError):
    """A stage could not finish for a reason outside its inputs (a worker process died or
    stalled, a lock stayed held). The message says what happened and what to do."""
