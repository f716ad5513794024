"""Figures drawn by the workflow (seaborn), all in one style.

Every learning-curve figure is built the same way (:func:`curve_frame`):

1. each run's curve is the logged average total reward (sum over agents of an episode's
   rewards, averaged over the last 100 training episodes) against training episodes;
2. ``figures.smoothing`` (one setting, default 1 = none): a trailing mean over that many
   consecutive logged iterations of each run;
3. the seeds of one (method, sharing) are put on a common grid of ``figures.grid_points``
   episode counts, from the latest first point to the earliest last point of its seeds
   (linear interpolation, never extrapolation), so every grid point has every seed;
4. the line is the mean over seeds and the shaded band is ``figures.band``: ``ci95`` (95%
   percentile bootstrap CI of the mean, ``scipy.stats.bootstrap``, 1000 resamples, seed 0),
   ``range`` (min to max over seeds), ``sd`` (one standard deviation) or ``none``. One seed
   draws no band.

The random policy's mean return (same evaluator) is the grey dotted line on every curve.
"""

from __future__ import annotations

import math
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from psmarl import results
from psmarl.aggregate import DIFFERENCES_TABLE, STATISTICS_TABLE, load_curves
from psmarl.defaults import section
from psmarl.errors import ConfigError, InputError
from psmarl.run_loop import summarize_progress

SHARING_STYLE = {"shared": "-", "independent": "--"}
#: methods that are baselines of Figure 5, not single-agent methods under sharing
BASELINES = ("maddpg", "qmix")
METHOD_ORDER = [
    "ppo",
    "impala",
    "a2c",
    "trpo",
    "sac",
    "ddpg",
    "td3",
    "apex_ddpg",
    "dqn",
    "rainbow",
    "apex_dqn",
    "maddpg",
    "qmix",
]
#: ``figures.*`` of the config (psmarl.defaults)
DEFAULTS = section("figures")
#: the sharing mode of the runs each of the paper's figures draws: 3 every method with
#: parameter sharing, 4 every method learning independently, 5 the best shared method (vs
#: MADDPG and QMIX, whatever their modes)
PAPER_FIGURE_SHARING = {3: "shared", 4: "independent", 5: "shared"}
BANDS = {"ci95": ("ci", 95), "range": ("pi", 100), "sd": ("sd", 1), "none": None}
RANDOM_STYLE = {"color": "0.35", "ls": ":", "lw": 1.6}


def check_spec(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """``figures.*`` of the config with defaults; bad values raise ConfigError naming the key."""
    out = dict(DEFAULTS)
    out.update({k: v for k, v in (spec or {}).items() if k in DEFAULTS})
    sm = out["smoothing"]
    if not isinstance(sm, int) or isinstance(sm, bool) or sm < 1:
        raise ConfigError(
            f"must be an integer >= 1 (1 = no smoothing), got {sm!r}", key="figures.smoothing"
        )
    if out["band"] not in BANDS:
        raise ConfigError(
            f"must be one of {', '.join(BANDS)}, got {out['band']!r}", key="figures.band"
        )
    gp = out["grid_points"]
    if not isinstance(gp, int) or isinstance(gp, bool) or gp < 2:
        raise ConfigError(f"must be an integer >= 2, got {gp!r}", key="figures.grid_points")
    xm = out["paper_x_max_episodes"]
    if xm is not None and (not isinstance(xm, int) or isinstance(xm, bool) or xm < 1):
        raise ConfigError(
            f"must be a positive integer or null, got {xm!r}", key="figures.paper_x_max_episodes"
        )
    return out


def paper_measure_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """The curves in the paper's measure: ``avg_total_reward`` and ``episodes`` replaced by
    ``paper_avg_total_reward`` and ``paper_episodes`` (old RLlib's window and reporting runners:
    for Ape-X its least-exploring third) for every run that logged them; other runs (MADDPG,
    QMIX) keep theirs."""
    if "paper_avg_total_reward" not in curves:
        return curves
    out = curves.copy()
    has = out.groupby(["env", "method", "sharing", "seed"])["paper_avg_total_reward"].transform(
        lambda v: v.notna().any()
    )
    out.loc[has, "avg_total_reward"] = out.loc[has, "paper_avg_total_reward"]
    out.loc[has, "episodes"] = out.loc[has, "paper_episodes"]
    return out


def paper_figures(sharing: Iterable[str]) -> list[int]:
    """The paper's figures (3, 4, 5) a config with these sharing modes can draw."""
    modes = set(sharing)
    return [f for f, mode in PAPER_FIGURE_SHARING.items() if mode in modes]


def draws_sharing_summary(sharing: Iterable[str]) -> bool:
    """The shared-vs-independent summary figure needs runs of both modes."""
    return {"shared", "independent"} <= set(sharing)


def method_label(method: str) -> str:
    return method.upper().replace("_", "-")


def method_color(method: str):
    import seaborn as sns

    pal = sns.color_palette("tab20", 20)
    i = (
        METHOD_ORDER.index(method)
        if method in METHOD_ORDER
        else (len(METHOD_ORDER) + zlib.crc32(method.encode()) % (20 - len(METHOD_ORDER)))
    )
    return pal[i]


def save_figure(fig, outputs: Sequence[str | os.PathLike]) -> None:
    """Save to every path (format from the suffix), each via a temp file + rename. A PDF
    carries no creation date, so the same figure gives the same bytes (no git churn)."""
    for out in outputs:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
        meta = {"CreationDate": None} if out.suffix.lower() == ".pdf" else None
        fig.savefig(tmp, dpi=150, bbox_inches="tight", metadata=meta)
        os.replace(tmp, out)


# ---------------------------------------------------------------- curves on a common grid
def curve_frame(curves: pd.DataFrame, spec: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Tidy curves on a common episode grid per (env, method, sharing): columns env, method,
    sharing, seed, episodes, avg_total_reward (smoothed as ``figures.smoothing`` says)."""
    spec = check_spec(spec)
    curves = curves.dropna(subset=["avg_total_reward", "episodes"])
    if curves.empty:
        raise InputError("no finished training episode in any run: nothing to draw")
    frames = []
    for (env, method, sharing), g in curves.groupby(["env", "method", "sharing"], sort=False):
        runs = []
        for seed, r in g.groupby("seed", sort=True):
            r = r.sort_values("episodes")
            y = r["avg_total_reward"].rolling(spec["smoothing"], min_periods=1).mean()
            runs.append((seed, r["episodes"].to_numpy(float), y.to_numpy(float)))
        lo = max(x[0] for _, x, _ in runs)
        hi = min(x[-1] for _, x, _ in runs)
        if hi < lo:  # seeds that do not overlap: draw each on its own range
            grids = {seed: np.linspace(x[0], x[-1], spec["grid_points"]) for seed, x, _ in runs}
        else:
            grid = np.linspace(lo, hi, spec["grid_points"] if hi > lo else 1)
            grids = {seed: grid for seed, _, _ in runs}
        for seed, x, y in runs:
            gx = grids[seed]
            frames.append(
                pd.DataFrame(
                    {
                        "env": env,
                        "method": method,
                        "sharing": sharing,
                        "seed": seed,
                        "episodes": gx,
                        "avg_total_reward": np.interp(gx, x, y),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def band_limits(values: np.ndarray, band: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Lower and upper edge of the band over seeds (rows) at every grid point (columns):
    ``ci95`` a 95% percentile bootstrap CI of the mean (scipy, 1000 resamples, seed 0),
    ``range`` min to max, ``sd`` mean +- one standard deviation; None for ``none`` or one seed."""
    from scipy import stats as sp_stats

    if band == "none" or values.shape[0] < 2:
        return None
    if band == "range":
        return values.min(axis=0), values.max(axis=0)
    mean = values.mean(axis=0)
    if band == "sd":
        sd = values.std(axis=0, ddof=1)
        return mean - sd, mean + sd
    same = np.ptp(values, axis=0) == 0  # every resample is the data: a zero-width band
    lo, hi = mean.copy(), mean.copy()
    if (~same).any():
        ci = sp_stats.bootstrap(
            (values[:, ~same],),
            np.mean,
            axis=0,
            vectorized=True,
            n_resamples=1000,
            confidence_level=0.95,
            method="percentile",
            rng=np.random.default_rng(0),
        ).confidence_interval
        lo[~same], hi[~same] = ci.low, ci.high
    return lo, hi


def _draw(ax, tidy: pd.DataFrame, spec: Mapping[str, Any], sharing_in_label: bool) -> None:
    def order(key):
        method, sharing = key[0]
        return (
            METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER),
            method,
            sharing != "shared",
        )

    for (method, sharing), g in sorted(tidy.groupby(["method", "sharing"], sort=False), key=order):
        wide = g.pivot_table(
            index="seed", columns="episodes", values="avg_total_reward", aggfunc="first"
        )
        n = wide.shape[0]
        label = method_label(method) + (f" ({sharing})" if sharing_in_label else "")
        label += f", {n} seed{'s' if n != 1 else ''}"
        x = wide.columns.to_numpy(float)
        color = method_color(method)
        ax.plot(
            x,
            np.nanmean(wide.to_numpy(float), axis=0),
            color=color,
            ls=SHARING_STYLE.get(sharing, "-"),
            lw=1.6,
            label=label,
        )
        full = wide.dropna(axis=1)  # grid points every seed has (all, unless seeds never overlap)
        edges = band_limits(full.to_numpy(float), spec["band"]) if full.shape[1] else None
        if edges is not None:
            ax.fill_between(
                full.columns.to_numpy(float), edges[0], edges[1], color=color, alpha=0.2, lw=0
            )


def _random_line(ax, root: Path, env: str) -> None:
    rand = results.read_json(root / results.random_summary_json(env), results.RANDOM_SUMMARY_KEYS)
    ax.axhline(rand["mean"], **RANDOM_STYLE, label=f"random policy ({rand['mean']:.2f})")


def _finish(ax, title: str) -> None:
    ax.set_xlabel("training episodes")
    ax.set_ylabel("average total reward")
    ax.set_title(title, fontsize="medium")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small", frameon=True)


def _setup():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    return plt


def _curves(root: Path, env: str, runs: Sequence[tuple]) -> pd.DataFrame:
    runs = [tuple(r) for r in runs if r[0] == env]
    if not runs:
        raise InputError(f"no runs of env {env!r} to draw")
    return load_curves(root, runs)


def learning_curve_figure(
    root: str | Path,
    env: str,
    runs: Sequence[tuple],
    outputs: Sequence[str],
    spec: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> None:
    """Every method and sharing mode of one env in one plot."""
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    spec = check_spec(spec)
    root = Path(root)
    tidy = curve_frame(_curves(root, env, runs), spec)
    plt = _setup()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    _draw(ax, tidy, spec, sharing_in_label=True)
    _random_line(ax, root, env)
    _finish(ax, f"{env}: parameter sharing (solid) vs independent learning (dashed)")
    fig.tight_layout()
    save_figure(fig, outputs)
    plt.close(fig)
    log(f"drew {', '.join(map(str, outputs))}")


def best_shared_method(curves: pd.DataFrame) -> str | None:
    """The non-baseline method whose shared runs have the highest IQM over seeds of the
    maximum average total reward (the paper's Figure 5 takes the best sharing method)."""
    from psmarl.stats import iqm

    best, best_v = None, -math.inf
    sh = curves[(curves["sharing"] == "shared") & ~curves["method"].isin(BASELINES)]
    for method, g in sh.groupby("method", sort=True):
        maxima = [summarize_progress(r)["best_avg_total_reward"] for _, r in g.groupby("seed")]
        maxima = [m for m in maxima if m is not None]
        if maxima and iqm(maxima) > best_v:
            best, best_v = method, iqm(maxima)
    return best


def paper_figure(
    root: str | Path,
    figure: int,
    env: str,
    runs: Sequence[tuple],
    outputs: Sequence[str],
    spec: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> None:
    """The paper's Figure 3 (shared methods), 4 (independent) or 5 (best shared method vs
    MADDPG vs QMIX) for one env, from the runs given (every seed), in the paper's measure
    (:func:`paper_measure_curves`), the x-axis up to ``figures.paper_x_max_episodes``."""
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    spec = check_spec(spec)
    root = Path(root)
    curves = paper_measure_curves(_curves(root, env, runs))
    note = ""
    if figure in (3, 4):
        sharing = PAPER_FIGURE_SHARING[figure]
        curves = curves[(curves["sharing"] == sharing) & ~curves["method"].isin(BASELINES)]
        if curves.empty:
            raise InputError(f"Figure {figure} of {env}: no {sharing} runs among the runs given")
        title = f"Figure {figure} ({env}): " + (
            "parameter sharing" if figure == 3 else "fully independent learning"
        )
        in_label = False
    elif figure == 5:
        best = best_shared_method(curves)
        if best is None:
            raise InputError(f"Figure 5 of {env}: no shared run of a single-agent method")
        curves = curves[
            ((curves["method"] == best) & (curves["sharing"] == "shared"))
            | curves["method"].isin(BASELINES)
        ]
        absent = [b for b in BASELINES if b not in set(curves["method"])]
        title = f"Figure 5 ({env}): best parameter-sharing method vs MADDPG vs QMIX"
        if absent:
            note = (
                "no runs of "
                + " and ".join(method_label(b) for b in absent)
                + " in this config (baselines stage not enabled)"
            )
        in_label = True
    else:
        raise InputError(f"no paper figure {figure}: use 3, 4 or 5")
    tidy = curve_frame(curves, spec)
    plt = _setup()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    _draw(ax, tidy, spec, sharing_in_label=in_label)
    _random_line(ax, root, env)
    _finish(ax, title)
    if spec["paper_x_max_episodes"]:  # the paper's axes: 0 to 60k episodes
        ax.set_xlim(0, max(spec["paper_x_max_episodes"], float(tidy["episodes"].max())))
    if note:
        ax.text(
            0.5,
            0.02,
            note,
            transform=ax.transAxes,
            ha="center",
            va="bottom",
            fontsize="small",
            color="firebrick",
            bbox={"facecolor": "white", "edgecolor": "firebrick", "alpha": 0.9},
        )
        log(f"Figure 5 ({env}): {note}")
    fig.tight_layout()
    save_figure(fig, outputs)
    plt.close(fig)
    log(f"drew {', '.join(map(str, outputs))}")


def sharing_summary_figure(
    root: str | Path,
    outputs: Sequence[str],
    spec: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> None:
    """Shared vs independent per method and env: IQM over seeds with its bootstrap CI, for the
    final evaluation return (top) and the best training average (bottom); the random policy
    as a dotted line; the probability of improvement of shared over independent in the
    labels."""
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    check_spec(spec)
    root = Path(root)
    for rel in (STATISTICS_TABLE, DIFFERENCES_TABLE, results.SUMMARY_TABLE):
        if not (root / rel).exists():
            raise InputError(f"{root / rel} does not exist: run the statistics stage first")
    st = results.read_csv(
        root / STATISTICS_TABLE,
        ("env", "method", "sharing", "measure", "iqm", "ci_low", "ci_high"),
        dtype={"sharing": str},
    )
    diffs = results.read_csv(
        root / DIFFERENCES_TABLE, ("env", "method", "measure", "prob_improvement")
    )
    summary = results.read_csv(root / results.SUMMARY_TABLE, ("env", "random_mean"))
    st = st[~st["method"].isin(BASELINES)]
    if st.empty:
        raise InputError(f"{root / STATISTICS_TABLE} has no rows of single-agent methods")
    envs = list(dict.fromkeys(summary["env"]))
    envs = [e for e in envs if e in set(st["env"])]
    measures = [
        ("eval_return", "final evaluation return"),
        ("best_training_average", "best training average"),
    ]
    plt = _setup()
    fig, axes = plt.subplots(
        len(measures), len(envs), figsize=(3.6 * len(envs), 6.4), squeeze=False
    )
    offsets = {"shared": -0.15, "independent": 0.15}
    markers = {"shared": "o", "independent": "s"}
    for j, env in enumerate(envs):
        rand = summary[summary["env"] == env]["random_mean"].iloc[0]
        for i, (measure, mtext) in enumerate(measures):
            ax = axes[i][j]
            s = st[(st["env"] == env) & (st["measure"] == measure)]
            methods = sorted(
                set(s["method"]),
                key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else 99, m),
            )
            for k, method in enumerate(methods):
                for sharing in ("shared", "independent"):
                    r = s[(s["method"] == method) & (s["sharing"] == sharing)]
                    if r.empty:
                        continue
                    r = r.iloc[0]
                    y = r["iqm"]
                    err = None
                    if not (pd.isna(r["ci_low"]) or pd.isna(r["ci_high"])):
                        err = [[y - r["ci_low"]], [r["ci_high"] - y]]
                    ax.errorbar(
                        [k + offsets[sharing]],
                        [y],
                        yerr=err,
                        fmt=markers[sharing],
                        color=method_color(method),
                        capsize=3,
                        mfc="white" if sharing == "independent" else None,
                    )
            labels = []
            for method in methods:
                d = diffs[
                    (diffs["env"] == env)
                    & (diffs["method"] == method)
                    & (diffs["measure"] == measure)
                ]
                labels.append(
                    method_label(method)
                    + (f"\nP={d['prob_improvement'].iloc[0]:.2f}" if len(d) else "")
                )
            ax.set_xticks(range(len(methods)), labels, fontsize="x-small")
            ax.set_xlim(-0.6, len(methods) - 0.4)
            ax.axhline(rand, **RANDOM_STYLE)
            if i == 0:
                ax.set_title(env, fontsize="medium")
            if j == 0:
                ax.set_ylabel(f"{mtext}\n(IQM over seeds)", fontsize="small")
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", color="0.3", ls="", label="parameter sharing"),
        Line2D([], [], marker="s", color="0.3", mfc="white", ls="", label="independent learning"),
        Line2D([], [], **RANDOM_STYLE, label="random policy"),
    ]
    fig.suptitle(
        "Shared vs independent: IQM over seeds with its bootstrap CI (bars)\n"
        "P = probability that a shared seed beats an independent one",
        fontsize="small",
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize="small", frameon=False)
    save_figure(fig, outputs)
    plt.close(fig)
    log(f"drew {', '.join(map(str, outputs))}")


def add_cli(add: Callable) -> None:
    """``psmarl paper-figure`` and ``psmarl sharing-summary`` (registered by psmarl.cli)."""
    import json

    def run_paper(a):
        paper_figure(
            a.root,
            a.figure,
            a.env,
            [tuple(r) for r in json.loads(a.runs)],
            a.out,
            spec=json.loads(a.spec) if a.spec else None,
        )

    sp = add(
        "paper-figure",
        run_paper,
        "the paper's Figure 3, 4 or 5 for one env",
        "Figure 3: shared runs of every method; 4: independent runs; 5: the best shared "
        "method (IQM of the curve maxima over seeds) vs MADDPG vs QMIX runs, naming a "
        "baseline without runs in the figure.",
    )
    sp.add_argument("--root", default="results", help="results folder")
    sp.add_argument("--figure", type=int, choices=(3, 4, 5), required=True)
    sp.add_argument("--env", required=True)
    sp.add_argument("--runs", required=True, help="JSON list of [env, method, sharing, seed]")
    sp.add_argument("--out", nargs="+", required=True, help="output files (.png/.pdf/.svg)")
    sp.add_argument("--spec", default=None, help="figure settings (JSON, figures.* keys)")

    def run_summary(a):
        sharing_summary_figure(a.root, a.out, spec=json.loads(a.spec) if a.spec else None)

    sp = add(
        "sharing-summary",
        run_summary,
        "shared vs independent per method with CIs",
        "Reads tables/statistics.csv, sharing_differences.csv and summary.csv.",
    )
    sp.add_argument("--root", default="results", help="results folder")
    sp.add_argument("--out", nargs="+", required=True, help="output files (.png/.pdf/.svg)")
    sp.add_argument("--spec", default=None, help="figure settings (JSON, figures.* keys)")
