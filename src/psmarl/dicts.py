"""Plain-dict helpers every layer uses (config files, method settings, run specs).

This module imports nothing of psmarl, so every module can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` on top, nested mappings merged key by key."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def normalize(obj: Any) -> Any:
    """Plain, key-sorted, JSON-like structure (stable repr for Snakemake's params check)."""
    if isinstance(obj, Mapping):
        return {str(k): normalize(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, (list, tuple)):
        return [normalize(v) for v in obj]
    if isinstance(obj, float) and obj.is_integer() and abs(obj) < 2**53:
        return obj  # keep floats as floats: 1.0 and 1 differ for RLlib
    return obj
