"""Figures drawn by the workflow (seaborn)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence


from psmarl import results
from psmarl.aggregate import load_curves

SHARING_STYLE = {"shared": "-", "independent": "--"}


def save_figure(fig, outputs: Sequence[str | os.PathLike]) -> None:
    """Save to every path (format from the suffix), each via a temp file + rename."""
    for out in outputs:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        os.replace(tmp, out)


def learning_curve_figure(root: str | Path, env: str, runs: Sequence[tuple],
                          outputs: Sequence[str], spec: Mapping[str, Any] | None = None,
                          log: Callable[[str], None] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    spec = spec or {}
    root = Path(root)
    runs = [tuple(r) for r in runs if r[0] == env]
    curves = load_curves(root, runs).dropna(subset=["avg_total_reward"])
    rand = results.read_json(root / results.random_summary_json(env))

    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    curves = curves.assign(method=curves["method"].str.upper())
    n_seeds = curves.groupby(["method", "sharing"])["seed"].nunique().max()
    sns.lineplot(
        data=curves, x="episodes", y="avg_total_reward",
        hue="method", style="sharing",
        style_order=[s for s in ("shared", "independent") if s in set(curves["sharing"])],
        errorbar=("ci", 95) if n_seeds and n_seeds > 1 else None, ax=ax,
        estimator="mean",
    )
    ax.axhline(rand["mean"], color="0.3", ls=":", lw=1.5,
               label=f"random policy ({rand['mean']:.1f})")
    ax.set_xlabel("training episodes")
    ax.set_ylabel("average total reward")
    ax.set_title(f"{env}: parameter sharing vs independent learning")
    ax.legend(loc="best", fontsize="small", frameon=True)
    fig.tight_layout()
    save_figure(fig, outputs)
    plt.close(fig)
    log(f"drew {', '.join(map(str, outputs))}")
