"""Argument types of the ``psmarl`` command line, for :mod:`psmarl.cli` and for the modules
that add their own subcommands (``add_cli``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def json_arg(text: str) -> Any:
    """A JSON value, or @FILE to read it from a file."""
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.exists():
            raise argparse.ArgumentTypeError(f"spec file not found: {path}")
        text = path.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e})") from None


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def positive_seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return v
