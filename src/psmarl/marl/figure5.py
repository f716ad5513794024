"""Figure 5 of the paper, per env: the best parameter-sharing run vs MADDPG vs QMIX.

"Best parameter-sharing method" = the RLlib method whose ``shared`` runs have the highest
mean (over seeds) of ``best_avg_total_reward``, the maximum of the training curve, which is
how the paper's Appendix C picks it. Curves: average total reward (sum over agents, last
100 episodes) against training episodes, mean over seeds with a 95% CI band when there are
several; the random policy as a line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from psmarl import results
from psmarl.errors import InputError
from psmarl.marl import METHODS


def figure5_path(env: str, ext: str) -> str:
    return f"figures/figure5_{env}.{ext}"


def best_shared_method(curves: pd.DataFrame) -> str | None:
    """The RLlib method with the highest mean best_avg_total_reward over its shared runs."""
    ps = curves[(curves["sharing"] == "shared") & ~curves["method"].isin(METHODS)]
    if ps.empty:
        return None
    best = ps.groupby(["method", "seed"])["avg_total_reward"].max().groupby("method").mean()
    return str(best.idxmax())


def figure5(root: str | Path, env: str, runs: Sequence[tuple], outputs: Sequence[str],
            log: Callable[[str], None] | None = None) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from psmarl.aggregate import load_curves
    from psmarl.figures import save_figure

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    root = Path(root)
    runs = [tuple(r) for r in runs if r[0] == env]
    curves = load_curves(root, runs).dropna(subset=["avg_total_reward"])
    best = best_shared_method(curves)
    keep = curves["method"].isin(METHODS)
    if best is not None:
        keep |= (curves["method"] == best) & (curves["sharing"] == "shared")
    curves = curves[keep]
    if curves.empty:
        raise InputError(f"no MADDPG/QMIX or shared runs with finished episodes for {env!r}")
    label = {m: m.upper() for m in METHODS}
    if best is not None:
        label[best] = f"{best.upper()} (parameter sharing)"
    curves = curves.assign(run=[f"{label[m]}" + ("" if m == best else f" ({s})")
                                for m, s in zip(curves["method"], curves["sharing"])])
    rand = results.read_json(root / results.random_summary_json(env))

    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    n_seeds = curves.groupby("run")["seed"].nunique().max()
    sns.lineplot(data=curves, x="episodes", y="avg_total_reward", hue="run",
                 errorbar=("ci", 95) if n_seeds > 1 else None, estimator="mean", ax=ax)
    ax.axhline(rand["mean"], color="0.3", ls=":", lw=1.5,
               label=f"random policy ({rand['mean']:.1f})")
    ax.set_xlabel("training episodes")
    ax.set_ylabel("average total reward")
    ax.set_title(f"{env}: best parameter sharing vs MADDPG vs QMIX")
    ax.legend(loc="best", fontsize="small", frameon=True)
    fig.tight_layout()
    save_figure(fig, outputs)
    plt.close(fig)
    log(f"drew {', '.join(map(str, outputs))} (best parameter-sharing method: {best})")
    return {"best_shared_method": best}
