"""Statistics over seeds: interquartile mean (IQM), bootstrap 95% CIs, probability of improvement.

The estimators are rliable's (Agarwal et al., 2021): ``rliable.metrics.aggregate_iqm`` and
``rliable.metrics.probability_of_improvement``. The confidence intervals are percentile
bootstrap intervals from ``scipy.stats.bootstrap`` with every sample resampled on its own
(``paired=False``): for one task this is exactly rliable's stratified bootstrap over runs,
and for several tasks (the probability of improvement averaged over envs) each (task, group)
sample is its own stratum, as in rliable's ``StratifiedIndependentBootstrap``.

Why not ``rliable.library.get_interval_estimates``: rliable 1.2.0 requires ``arch<8``, and
arch 7.2.0 (the newest below 8) fails on import with pandas 3 (it imports pandas' private
``deprecate_kwarg``, whose signature changed), so ``rliable.library`` cannot be imported
in this environment. ``rliable.metrics`` only needs numpy and scipy.

A statistic of fewer than two seeds has no bootstrap interval: its CI is NaN (left empty in
the CSV tables), never a zero-width interval that would look like certainty.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from rliable import metrics as rl_metrics
from scipy import stats as sp_stats

from psmarl.defaults import section
from psmarl.errors import ConfigError, InputError

#: Per-run measures that are aggregated over seeds: name -> column of tables/summary.csv.
MEASURES = {
    "eval_return": "eval_mean",
    "best_training_average": "best_avg_total_reward",
}
MEASURE_TEXT = {
    "eval_return": "final evaluation return (mean over held-out plays of the final checkpoint)",
    "best_training_average": "best training average total reward "
    "(maximum of the 100-episode curve)",
}
#: ``report.*`` of the config (psmarl.defaults)
DEFAULTS = section("report")


def check_spec(spec: dict | None) -> dict:
    """Bootstrap settings (``report.*`` of the config) with defaults, checked."""
    out = dict(DEFAULTS)
    for k, v in (spec or {}).items():
        if k in DEFAULTS:
            out[k] = v
    if not isinstance(out["bootstrap_reps"], int) or out["bootstrap_reps"] < 100:
        raise ConfigError(
            f"must be an integer >= 100, got {out['bootstrap_reps']!r}", key="report.bootstrap_reps"
        )
    if not isinstance(out["bootstrap_seed"], int) or out["bootstrap_seed"] < 0:
        raise ConfigError(
            f"must be a non-negative integer, got {out['bootstrap_seed']!r}",
            key="report.bootstrap_seed",
        )
    c = out["confidence"]
    if not isinstance(c, (int, float)) or not 0 < c < 1:
        raise ConfigError(f"must be in (0, 1), got {c!r}", key="report.confidence")
    return out


def _col(x: Sequence[float]) -> np.ndarray:
    """Scores as rliable's (num_runs, num_tasks) matrix with one task."""
    return np.asarray(x, dtype=float).reshape(-1, 1)


def iqm(x: Sequence[float]) -> float:
    """Interquartile mean over runs (rliable: mean of the middle 50%, scipy trim_mean 0.25)."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        raise InputError("IQM of no scores")
    return float(rl_metrics.aggregate_iqm(_col(x)))


def probability_of_improvement(tasks: Sequence[tuple[Sequence[float], Sequence[float]]]) -> float:
    """P(X > Y) (ties count 1/2), for runs of X and Y per task, averaged over tasks (rliable)."""
    if not tasks:
        raise InputError("probability of improvement over no tasks")
    return float(
        np.mean([rl_metrics.probability_of_improvement(_col(x), _col(y)) for x, y in tasks])
    )


def _iqm_batched(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """rliable's IQM (``aggregate_iqm`` is ``trim_mean(scores, 0.25, axis=None)``) over one
    axis, so the bootstrap evaluates all resamples in one call."""
    return sp_stats.trim_mean(x, proportiontocut=0.25, axis=axis)


def _poi_batched(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """rliable's per-task probability of improvement (Mann-Whitney U / (n m)) over one axis."""
    u = sp_stats.mannwhitneyu(x, y, alternative="greater", axis=axis).statistic
    return u / (x.shape[axis] * y.shape[axis])


def _interval(
    point_fn: Callable[..., float],
    batched_fn: Callable[..., np.ndarray],
    samples: Sequence[np.ndarray],
    spec: dict,
) -> tuple[float, float, float]:
    """Point estimate (rliable) and percentile bootstrap CI (scipy), each sample resampled
    independently of the others."""
    samples = [np.asarray(s, dtype=float) for s in samples]
    point = float(point_fn(*samples))
    if min(s.size for s in samples) < 2:
        return point, math.nan, math.nan
    if all(np.ptp(s) == 0 for s in samples):  # every resample is the data itself
        return point, point, point
    res = sp_stats.bootstrap(
        samples,
        batched_fn,
        n_resamples=spec["bootstrap_reps"],
        vectorized=True,
        paired=False,
        confidence_level=spec["confidence"],
        method="percentile",
        rng=np.random.default_rng(spec["bootstrap_seed"]),
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    # the percentile interval of a statistic that takes a finite set of values can sit
    # next to the point estimate; never report an interval that excludes it
    return point, min(lo, point), max(hi, point)


def iqm_interval(x: Sequence[float], spec: dict | None = None) -> tuple[float, float, float]:
    return _interval(iqm, _iqm_batched, [np.asarray(x, dtype=float)], check_spec(spec))


def difference_interval(
    x: Sequence[float], y: Sequence[float], spec: dict | None = None
) -> tuple[float, float, float]:
    """IQM(x) - IQM(y) with a CI from resampling the runs of x and of y independently."""
    return _interval(
        lambda a, b: iqm(a) - iqm(b),
        lambda a, b, axis=-1: _iqm_batched(a, axis) - _iqm_batched(b, axis),
        [np.asarray(x, float), np.asarray(y, float)],
        check_spec(spec),
    )


def improvement_interval(
    tasks: Sequence[tuple[Sequence[float], Sequence[float]]], spec: dict | None = None
) -> tuple[float, float, float]:
    """Probability of improvement of X over Y averaged over tasks, with a stratified CI."""
    flat = [np.asarray(s, dtype=float) for pair in tasks for s in pair]

    def point(*arrs):
        return probability_of_improvement(list(zip(arrs[0::2], arrs[1::2])))

    def batched(*arrs, axis=-1):
        return np.mean([_poi_batched(x, y, axis) for x, y in zip(arrs[0::2], arrs[1::2])], axis=0)

    return _interval(point, batched, flat, check_spec(spec))


# ---------------------------------------------------------------- tables
def _scores(summary: pd.DataFrame, measure: str) -> pd.DataFrame:
    col = MEASURES[measure]
    bad = summary[summary[col].isna()]
    if not bad.empty:
        runs = ", ".join(f"{r.env}/{r.method}/{r.sharing}/seed{r.seed}" for r in bad.itertuples())
        raise InputError(
            f"{col} is missing for {len(bad)} run(s) (no finished training "
            f"episode, or a failed evaluation?): {runs}"
        )
    return summary


def group_statistics(summary: pd.DataFrame, spec: dict | None = None) -> pd.DataFrame:
    """One row per (env, method, sharing, measure): seeds, IQM with CI, mean, std, min, max."""
    spec = check_spec(spec)
    if summary.empty:
        raise InputError("no runs to compute statistics over")
    rows = []
    for measure, col in MEASURES.items():
        _scores(summary, measure)
        for (env, method, sharing), g in summary.groupby(["env", "method", "sharing"], sort=True):
            x = g.sort_values("seed")[col].to_numpy(float)
            point, lo, hi = iqm_interval(x, spec)
            rows.append(
                {
                    "env": env,
                    "method": method,
                    "sharing": sharing,
                    "measure": measure,
                    "n_seeds": len(x),
                    "seeds": " ".join(str(s) for s in sorted(g["seed"])),
                    "iqm": point,
                    "ci_low": lo,
                    "ci_high": hi,
                    "mean": float(np.mean(x)),
                    "std": float(np.std(x, ddof=1)) if len(x) > 1 else math.nan,
                    "min": float(np.min(x)),
                    "max": float(np.max(x)),
                }
            )
    return pd.DataFrame(rows)


def sharing_differences(summary: pd.DataFrame, spec: dict | None = None) -> pd.DataFrame:
    """Shared minus independent per (env, method, measure): IQM difference with CI, and the
    probability that a shared seed beats an independent one, with CI."""
    spec = check_spec(spec)
    rows = []
    for measure, col in MEASURES.items():
        _scores(summary, measure)
        for (env, method), g in summary.groupby(["env", "method"], sort=True):
            x = g[g["sharing"] == "shared"][col].to_numpy(float)
            y = g[g["sharing"] == "independent"][col].to_numpy(float)
            if len(x) == 0 or len(y) == 0:
                continue
            d, dlo, dhi = difference_interval(x, y, spec)
            p, plo, phi = improvement_interval([(x, y)], spec)
            rows.append(
                {
                    "env": env,
                    "method": method,
                    "measure": measure,
                    "n_shared": len(x),
                    "n_independent": len(y),
                    "iqm_shared": iqm(x),
                    "iqm_independent": iqm(y),
                    "difference": d,
                    "difference_ci_low": dlo,
                    "difference_ci_high": dhi,
                    "prob_improvement": p,
                    "prob_improvement_ci_low": plo,
                    "prob_improvement_ci_high": phi,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "env",
            "method",
            "measure",
            "n_shared",
            "n_independent",
            "iqm_shared",
            "iqm_independent",
            "difference",
            "difference_ci_low",
            "difference_ci_high",
            "prob_improvement",
            "prob_improvement_ci_low",
            "prob_improvement_ci_high",
        ],
    )


def improvement_by_method(summary: pd.DataFrame, spec: dict | None = None) -> pd.DataFrame:
    """Probability of improvement of shared over independent per method, averaged over the
    envs where the method has both (rliable's average probability of improvement), with a
    CI that resamples seeds within each (env, sharing) stratum."""
    spec = check_spec(spec)
    rows = []
    for measure, col in MEASURES.items():
        _scores(summary, measure)
        for method, g in summary.groupby("method", sort=True):
            tasks, envs = [], []
            for env, ge in g.groupby("env", sort=True):
                x = ge[ge["sharing"] == "shared"][col].to_numpy(float)
                y = ge[ge["sharing"] == "independent"][col].to_numpy(float)
                if len(x) and len(y):
                    tasks.append((x, y))
                    envs.append(env)
            if not tasks:
                continue
            p, lo, hi = improvement_interval(tasks, spec)
            rows.append(
                {
                    "method": method,
                    "measure": measure,
                    "envs": " ".join(envs),
                    "n_envs": len(envs),
                    "prob_improvement": p,
                    "ci_low": lo,
                    "ci_high": hi,
                }
            )
    return pd.DataFrame(
        rows,
        columns=["method", "measure", "envs", "n_envs", "prob_improvement", "ci_low", "ci_high"],
    )
