"""The reproduction report: the paper's multiwalker PPO result, from kept runs.

``psmarl reproduction-report`` builds ``docs/reproduction.md`` and its figures from the
folder that ``psmarl keep-runs`` (``psmarl.kept_runs``) fills, without rerunning anything:

- curves of every seed and their IQM with a 95% bootstrap band, shared and independent, the
  paper's own two curves on the same axes (from its repository's training logs, when
  ``--paper-logs`` points at a copy of it) and the random policy;
- env steps and episodes to first reach each threshold, per seed and as IQM with CI, beside
  the paper's;
- the maximum average total reward per seed and its IQM, beside the paper's;
- the probability that a shared seed beats an independent one;
- the held-out evaluation of the final checkpoints, and each run's wall time and speed.
- the learner beside the paper's logs: policy entropy, the value function's explained
  variance and loss over env steps, for every run (finished, unfinished or superseded).

The paper's logs are not part of psmarl (its repository's data stays there): what the report
quotes from them (first crossings, maxima) is written to ``paper_milestones.csv`` beside the
kept runs when ``--paper-logs`` is given, and read from there otherwise, so the tables can be
rebuilt from committed files; only the paper's curves need the logs.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from psmarl import results
from psmarl.errors import InputError
from psmarl.kept_runs import (
    KEEP_AGAIN,
    MACHINE_JSON,
    RANDOM_KEYS,
    SAMPLED_EVAL,
    UNFINISHED,
    kept_unfinished,
)

PAPER_MILESTONES = "paper_milestones.csv"


@dataclass
class UnfinishedRun:
    sharing: str
    seed: int
    iteration: int
    env_steps: int
    episodes: int
    budget: dict[str, Any]
    wall_seconds: float
    curve: pd.DataFrame  # env_steps, avg_total_reward
    machine: dict[str, Any] | None
    #: env_steps and the learner's diagnostics (:func:`learner_diagnostics`)
    diagnostics: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the env implementation it trains on (psmarl's fast one, or PettingZoo's)
    env_backend: str = "?"


def env_backend(spec: Mapping[str, Any]) -> str:
    """The env implementation of a run spec (``fast`` or ``pettingzoo``; ``?`` unknown)."""
    from psmarl.envs import backend_of

    try:
        return backend_of(spec["env"])
    except (KeyError, TypeError):
        return "?"


def load_unfinished(data: str | Path, study: Study) -> list[UnfinishedRun]:
    data = Path(data)
    out = []
    for rel in kept_unfinished(data):
        env, method, sharing, seed = rel.parts[-4:]
        if (env, method) != (study.env, study.method):
            continue
        kept = data / UNFINISHED / rel
        meta = results.read_json(kept / "checkpoint" / results.RUN_META, (), KEEP_AGAIN)
        loop = meta.get("loop", meta)
        rows = [
            json.loads(line)
            for line in (kept / "progress.jsonl").read_text().splitlines()
            if line.strip()
        ]
        curve = (
            pd.DataFrame(rows, columns=["env_steps", "avg_total_reward"]).dropna()
            if rows
            else pd.DataFrame(columns=["env_steps", "avg_total_reward"])
        )
        mj = kept / MACHINE_JSON
        out.append(
            UnfinishedRun(
                sharing,
                int(seed.removeprefix("seed")),
                int(loop["iteration"]),
                int(loop["env_steps"]),
                int(loop["episodes"]),
                dict(meta.get("spec", {}).get("budget", {})),
                float(loop.get("wall_seconds", float("nan"))),
                curve,
                results.read_json(mj, (), KEEP_AGAIN) if mj.exists() else None,
                learner_diagnostics(pd.DataFrame(rows)),
                env_backend(meta.get("spec", {})),
            )
        )
    return out


def paper_at(paper: Mapping[str, pd.DataFrame], sharing: str, env_steps: float) -> str:
    """The paper's logged average total reward of ``sharing`` at the logged env step nearest
    ``env_steps`` (a table cell; "-" without a log)."""
    p = paper.get(sharing)
    if p is None or not len(p) or not np.isfinite(env_steps):
        return "-"
    i = (p["env_steps"] - env_steps).abs().idxmin()
    return f"{float(p.loc[i, 'avg_total_reward']):.1f}"


def unfinished_lines(runs: Sequence[UnfinishedRun], paper: Mapping[str, pd.DataFrame]) -> list[str]:
    """The report's section on runs still training (from their last kept checkpoint)."""
    if not runs:
        return []
    lines = [
        "## Runs still training",
        "",
        "Their last kept checkpoint (`psmarl keep-runs` keeps it under "
        f"`{UNFINISHED}/`; `psmarl keep-runs --restore` puts it back so that `./run.sh` "
        "resumes there on any machine). Not in any statistic over seeds: they have not "
        'reached the budget. "Paper at that step": the paper\'s log of the same mode at '
        "the nearest logged env step.",
        "",
    ]
    rows = []
    for r in sorted(runs, key=lambda r: (r.sharing != "shared", r.seed)):
        last = float(r.curve["avg_total_reward"].iloc[-1]) if len(r.curve) else float("nan")
        best = float(r.curve["avg_total_reward"].max()) if len(r.curve) else float("nan")
        at = paper_at(paper, r.sharing, r.env_steps)
        b = r.budget.get("env_steps")
        frac = f" ({r.env_steps / b:.0%} of {_steps(b)})" if b else ""
        mach = r.machine or {}
        rows.append(
            [
                r.sharing,
                r.seed,
                r.iteration,
                _steps(r.env_steps) + frac,
                number_text(r.episodes),
                f"{last:.1f}",
                f"{best:.1f}",
                at,
                f"{r.wall_seconds / 3600:.2f} h",
                number_text(r.env_steps / r.wall_seconds, 0) if r.wall_seconds else "-",
                r.env_backend,
                str(mach.get("kept_at", "?"))[:16],
            ]
        )
    lines += [
        markdown_table(
            [
                "mode",
                "seed",
                "iteration",
                "env steps",
                "episodes",
                "average total reward now",
                "best so far",
                "paper at that step",
                "wall time",
                "env steps/s",
                "env backend",
                "kept at",
            ],
            rows,
        ),
        "",
    ]
    return lines


# ---------------------------------------------------------------- variants: superseded, ablations
#: runs (finished or not) of an earlier psmarl that had a defect since fixed: kept to show
#: the fix's effect, in no statistic
SUPERSEDED = "superseded"
#: controlled runs: the reproduction's settings with one thing changed (an overlay config),
#: to test an explanation of a difference from the paper; in no statistic
ABLATIONS = "ablations"
#: in each variant's folder: why its runs were superseded, or what an ablation changed
WHY_FILE = "why.md"
_WHY = {
    SUPERSEDED: "say in one paragraph why these runs were superseded",
    ABLATIONS: "say in one paragraph what these runs changed, and the command that ran them",
}


@dataclass(frozen=True)
class VariantRun:
    """A run kept apart from the reproduction's statistics: ``<data>/<kind>/<label>/``
    holds ``why.md`` and the runs' ``progress.jsonl`` (or ``progress.csv``) under ``runs/``;
    ``kind`` is :data:`SUPERSEDED` or :data:`ABLATIONS`."""

    kind: str
    label: str
    why: str
    sharing: str
    seed: int
    curve: pd.DataFrame  # env_steps, avg_total_reward
    diagnostics: pd.DataFrame = field(default_factory=pd.DataFrame)


def load_variants(data: str | Path, study: Study, kind: str = SUPERSEDED) -> list[VariantRun]:
    """The kept runs of every variant of ``kind`` under ``data``."""
    out = []
    root = Path(data) / kind
    for variant in sorted(p for p in root.glob("*") if p.is_dir()):
        why_file = variant / WHY_FILE
        if not why_file.exists():
            raise InputError(f"{why_file}: missing ({_WHY[kind]})")
        why = " ".join(why_file.read_text().split())
        runs = variant / "runs" / study.env / study.method
        for seed_dir in sorted(runs.glob("*/seed*")):
            jsonl, csv = seed_dir / "progress.jsonl", seed_dir / "progress.csv"
            if jsonl.exists():
                full = pd.DataFrame(results.read_progress_rows(jsonl, upto=10**9))
            elif csv.exists():
                full = pd.read_csv(csv)
            else:
                continue
            curve = full.reindex(columns=["env_steps", "avg_total_reward"])
            out.append(
                VariantRun(
                    kind,
                    variant.name,
                    why,
                    seed_dir.parent.name,
                    int(seed_dir.name.removeprefix("seed")),
                    curve.dropna(),
                    learner_diagnostics(full),
                )
            )
    return out


def load_superseded(data: str | Path, study: Study) -> list[VariantRun]:
    return load_variants(data, study, SUPERSEDED)


def superseded_lines(runs: Sequence[VariantRun], paper: Mapping[str, pd.DataFrame]) -> list[str]:
    """The report's section on superseded runs: why, and how far they got."""
    if not runs:
        return []
    lines = ["## Superseded runs (a defect since fixed)", ""]
    for label in sorted({r.label for r in runs}):
        mine = [r for r in runs if r.label == label]
        lines += [f"**{label}.** {mine[0].why}", ""]
        rows = []
        for r in sorted(mine, key=lambda r: (r.sharing != "shared", r.seed)):
            steps = float(r.curve["env_steps"].iloc[-1]) if len(r.curve) else float("nan")
            best = float(r.curve["avg_total_reward"].max()) if len(r.curve) else float("nan")
            last = float(r.curve["avg_total_reward"].iloc[-1]) if len(r.curve) else float("nan")
            at = paper_at(paper, r.sharing, steps)
            rows.append([r.sharing, r.seed, _steps(steps), f"{last:.1f}", f"{best:.1f}", at])
        lines += [
            markdown_table(
                ["mode", "seed", "env steps reached", "last", "best", "paper at that step"],
                rows,
            ),
            "",
        ]
    return lines


#: env steps at which the ablation table compares the learner (the smoothed diagnostics)
ABLATION_AT = (250_000, 500_000, 1_000_000)


def ablation_lines(
    ablations: Sequence[VariantRun],
    runs: Sequence[Any],
    paper: Mapping[str, pd.DataFrame],
    superseded: Sequence[VariantRun] = (),
) -> list[str]:
    """The report's section on controlled runs: what each changed, and its learner beside
    the reproduction's runs of the same mode (every seed: their spread is the yardstick),
    superseded runs of that mode, and the paper's log, at :data:`ABLATION_AT` env steps."""
    if not ablations:
        return []
    lines = [
        "## Controlled runs (the reproduction's settings with one thing changed)",
        "",
        "Each cell: entropy / KL / explained variance, rolling means of "
        f"{DIAGNOSTICS_SMOOTHING} iterations (as in the learner table below); best: the "
        "best average total reward of the run so far.",
        "",
    ]
    for label in sorted({a.label for a in ablations}):
        mine = [a for a in ablations if a.label == label]
        lines += [f"**{label}.** {mine[0].why}", ""]
        modes = sorted({a.sharing for a in mine}, key=lambda s: s != "shared")
        rows = []
        for sharing in modes:
            series = [
                (f"**{label}** seed {a.seed}", a.diagnostics, a.curve)
                for a in sorted(mine, key=lambda a: a.seed)
                if a.sharing == sharing
            ]
            series += [
                (f"psmarl {sharing} seed {r.seed}", r.diagnostics, r.curve)
                for r in sorted(runs, key=lambda r: r.seed)
                if r.sharing == sharing
            ]
            series += [
                (f"superseded ({r.label}) seed {r.seed}", r.diagnostics, r.curve)
                for r in sorted(superseded, key=lambda r: (r.label, r.seed))
                if r.sharing == sharing
            ]
            if sharing in paper:
                p = paper[sharing]
                series.append((f"paper {sharing} (its log)", p, p))
            for name, diag, curve in series:
                cells = []
                for m in ABLATION_AT:
                    vals = [
                        diagnostics_at(diag, n, m) for n in ("entropy", "kl", "vf_explained_var")
                    ]
                    cells.append(
                        "-"
                        if np.isnan(vals).all()
                        else " / ".join(number_text(v, d) for v, d in zip(vals, (2, 4, 2)))
                    )
                upto = curve[curve["env_steps"] <= ABLATION_AT[-1]]["avg_total_reward"]
                best = f"{float(upto.max()):.1f}" if len(upto) else "-"
                rows.append([name, sharing, *cells, best])
        lines += [
            markdown_table(
                [
                    "run",
                    "mode",
                    *[_steps(m) for m in ABLATION_AT],
                    f"best to {_steps(ABLATION_AT[-1])}",
                ],
                rows,
            ),
            "",
        ]
    return lines


# ---------------------------------------------------------------- the paper's logs
@dataclass(frozen=True)
class PaperLog:
    """One training log of the paper's repository (old RLlib's progress.csv columns)."""

    sharing: str
    path: str  # inside the repository
    label: str


@dataclass(frozen=True)
class Study:
    """What a reproduction report compares: one (env, method) in both modes."""

    env: str
    method: str
    title: str
    thresholds: tuple[float, ...]
    paper_logs: tuple[PaperLog, ...]
    paper_claims: Mapping[str, str] = field(default_factory=dict)


MULTIWALKER_PPO = Study(
    env="multiwalker",
    method="ppo",
    title="Multiwalker, PPO: parameter sharing vs independent learning",
    thresholds=(0.0, 20.0, 30.0),
    paper_logs=(
        PaperLog("shared", "plot/data/multi_walker/ppo1.csv", "paper, shared (ppo1.csv)"),
        PaperLog(
            "independent", "plot/data/multi_walker/sa_ppo.csv", "paper, independent (sa_ppo.csv)"
        ),
    ),
    paper_claims={
        "shared": "Figure 3c: maximum average total reward 41 after 9.2k episodes",
        "independent": "Figure 4c: maximum average total reward 38 after 14.6k episodes",
    },
)


def read_paper_log(source: str | Path, path: str) -> pd.DataFrame:
    """A log of the paper's repository from a checkout folder or a bare git directory
    (``git show HEAD:<path>``): columns env_steps, episodes, avg_total_reward."""
    source = Path(source)
    if (source / path).exists():
        text = (source / path).read_text()
    elif (source / "HEAD").exists() or source.name.endswith(".git"):
        r = subprocess.run(
            ["git", "--git-dir", str(source), "show", f"HEAD:{path}"],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            raise InputError(f"{source}: no {path} in its HEAD ({r.stderr.strip()})")
        text = r.stdout
    else:
        raise InputError(
            f"{source}: neither a checkout of the paper's repository with {path} "
            "nor its git directory"
        )
    df = pd.read_csv(io.StringIO(text))
    out = pd.DataFrame(
        {
            "env_steps": df["timesteps_total"].astype(float),
            "episodes": df["episodes_total"].astype(float),
            "avg_total_reward": df["episode_reward_mean"].astype(float),
        }
    )
    learner = [c for c in df.columns if str(c).startswith("info/learner/")]
    diag = learner_diagnostics(
        pd.concat([df[learner], df["timesteps_total"].rename("env_steps")], axis=1)
    )
    for name in diag.columns.drop("env_steps"):
        out[name] = diag[name].to_numpy()
    return out


# ---------------------------------------------------------------- learner diagnostics
#: what both logs keep of the learner, per policy: (column name, axis label). psmarl's
#: progress has ``<module>/<name>``; old RLlib's ``info/learner/<policy>/<name>``
DIAGNOSTICS = (
    ("entropy", "policy entropy"),
    ("kl", "KL from the sampling policy"),
    ("vf_explained_var", "value: explained variance"),
    ("vf_loss", "value loss (as the loss used it)"),
)
#: other column names of a diagnostic (RLlib 2 logs the PPO KL as ``mean_kl_loss``)
DIAGNOSTIC_ALIASES = {"kl": ("kl", "mean_kl_loss")}
#: iterations of the rolling mean the figure and table draw from (both sides alike)
DIAGNOSTICS_SMOOTHING = 10
#: env steps at which the report's table reads the smoothed diagnostics
DIAGNOSTICS_AT = (250_000, 500_000, 1_000_000, 2_000_000, 3_000_000, 5_000_000)


def learner_diagnostics(df: pd.DataFrame) -> pd.DataFrame:
    """``env_steps`` and, for each :data:`DIAGNOSTICS` name some column of ``df`` has, its
    mean over the policies (columns ``.../<name>``; ``vf_loss_unclipped`` or
    ``entropy_coeff`` are other names), per row. Empty for a table without env steps."""
    if "env_steps" not in df.columns:
        return pd.DataFrame()
    out = {"env_steps": pd.to_numeric(df["env_steps"], errors="coerce").astype(float)}
    for name, _ in DIAGNOSTICS:
        names = DIAGNOSTIC_ALIASES.get(name, (name,))
        cols = [c for c in df.columns if "/" in str(c) and str(c).rsplit("/", 1)[1] in names]
        if cols:
            out[name] = df[cols].apply(pd.to_numeric, errors="coerce").mean(axis=1)
    return pd.DataFrame(out).reset_index(drop=True)


def _smoothed(diag: pd.DataFrame, name: str) -> pd.Series:
    return diag[name].rolling(DIAGNOSTICS_SMOOTHING, min_periods=1).mean()


def diagnostics_at(diag: pd.DataFrame, name: str, env_steps: float) -> float:
    """The smoothed ``name`` at the last row at or before ``env_steps`` (NaN when the run
    has not got that far or has no such column)."""
    if name not in diag.columns or diag.empty or diag["env_steps"].max() < env_steps:
        return float("nan")
    upto = diag["env_steps"] <= env_steps
    if not upto.any():
        return float("nan")
    return float(_smoothed(diag, name)[upto].iloc[-1])


def _diagnostic_series(
    runs: Sequence[Any], variants: Sequence[VariantRun], paper: Mapping[str, pd.DataFrame]
) -> list[tuple[str, str, str, pd.DataFrame]]:
    """(label, sharing, kind, diagnostics) of every run and paper log with any diagnostic;
    kind is psmarl, superseded, ablations (a variant's kind, its label in the legend) or
    paper."""
    out = []
    for r in sorted(runs, key=lambda r: (r.sharing != "shared", r.seed)):
        out.append((f"psmarl {r.sharing} seed {r.seed}", r.sharing, "psmarl", r.diagnostics))
    for r in variants:
        out.append(
            (
                f"{'superseded' if r.kind == SUPERSEDED else 'ablation'} ({r.label}): "
                f"{r.sharing} seed {r.seed}",
                r.sharing,
                r.kind,
                r.diagnostics,
            )
        )
    for sharing, p in paper.items():
        have = [n for n, _ in DIAGNOSTICS if n in p.columns]  # read_paper_log's means
        out.append((f"paper {sharing} (its log)", sharing, "paper", p[["env_steps", *have]]))
    return [s for s in out if len(s[3].columns) > 1]


def draw_diagnostics(
    series: Sequence[tuple[str, str, str, pd.DataFrame]],
    title: str,
    outputs: Sequence[Path],
    reach: str = "psmarl",
) -> bool:
    """One panel per diagnostic over env steps: psmarl's runs (solid), superseded ones
    (grey), ablations (thick, a colour each), the paper's logs (dashed), each smoothed over
    :data:`DIAGNOSTICS_SMOOTHING` iterations, up to a little past the longest run of kind
    ``reach``. False (nothing drawn) when no run of that kind has diagnostics."""
    from psmarl.figures import _setup, save_figure

    ours = [s for s in series if s[2] == reach]
    if not ours:
        return False
    ablation_colors = dict(
        zip(
            sorted({s[0].split(":")[0] for s in series if s[2] == ABLATIONS}),
            ["tab:green", "tab:purple", "tab:red", "tab:brown", "tab:olive", "tab:cyan"] * 9,
        )
    )
    names = [(n, lab) for n, lab in DIAGNOSTICS if any(n in s[3].columns for s in ours)]
    plt = _setup()
    colors = {"shared": "tab:blue", "independent": "tab:orange"}
    xmax = max(float(s[3]["env_steps"].max()) for s in ours) * 1.05
    fig, axes = plt.subplots(
        len(names), 1, figsize=(8, 2.3 * len(names) + 0.7), sharex=True, squeeze=False
    )
    for ax, (name, label) in zip(axes[:, 0], names):
        for lab, sharing, kind, d in series:
            if name not in d.columns:
                continue
            d = d[d["env_steps"] <= xmax]
            styles: dict[str, dict[str, Any]] = {
                "psmarl": {"color": colors[sharing], "lw": 1.1, "ls": "-"},
                SUPERSEDED: {"color": "0.55", "lw": 1.0, "ls": "-."},
                ABLATIONS: {"color": ablation_colors.get(lab.split(":")[0]), "lw": 1.8},
                "paper": {"color": colors[sharing], "lw": 1.3, "ls": "--"},
            }
            style = styles[kind]
            ax.plot(d["env_steps"], _smoothed(d, name), label=lab, **style)
        ax.set_ylabel(label, fontsize="small")
        ax.grid(True, alpha=0.4)
    axes[-1, 0].set_xlabel("env steps")
    axes[0, 0].legend(loc="best", fontsize="x-small", frameon=True)
    axes[0, 0].set_title(
        f"{title}\nthe learner beside the paper's logs "
        f"(rolling mean of {DIAGNOSTICS_SMOOTHING} iterations)",
        fontsize="medium",
    )
    fig.tight_layout()
    save_figure(fig, outputs)
    plt.close(fig)
    return True


def diagnostics_lines(
    series: Sequence[tuple[str, str, str, pd.DataFrame]], figure_rel: Path
) -> list[str]:
    """The report's section: the figure and the smoothed values at :data:`DIAGNOSTICS_AT`
    env steps, for every run and paper log (up to psmarl's longest run)."""
    ours = [s for s in series if s[2] == "psmarl"]
    if not ours:
        return []
    reach = max(float(s[3]["env_steps"].max()) for s in ours)
    marks = [m for m in DIAGNOSTICS_AT if m <= reach] or [DIAGNOSTICS_AT[0]]
    rows = []
    for lab, _, _, d in series:
        cells = []
        for m in marks:
            h = diagnostics_at(d, "entropy", m)
            ev = diagnostics_at(d, "vf_explained_var", m)
            loss = diagnostics_at(d, "vf_loss", m)
            cells.append(
                "-"
                if np.isnan([h, ev, loss]).all()
                else f"{number_text(h, 2)} / {number_text(ev, 2)} / {number_text(loss, 1)}"
            )
        rows.append([lab, *cells])
    return [
        "## The learner beside the paper's logs",
        "",
        "Per training iteration, the mean over a mode's policies of the policy's entropy "
        "(a Gaussian over the action's dimensions: it grows with the action noise), the "
        "explained variance of the value function, and the value loss as each run's loss used "
        "it (old RLlib's clipped loss for the paper and psmarl; a superseded run's own), as a "
        f"rolling mean of {DIAGNOSTICS_SMOOTHING} iterations. Reading these logs side by "
        "side is how the value-clipping defect was found (see the notes).",
        "",
        f"![learner]({figure_rel}.png)",
        "",
        "Entropy / explained variance / value loss at each env step (rolling means):",
        "",
        markdown_table(["run", *[_steps(m) for m in marks]], rows),
        "",
    ]


def first_reaching(curve: pd.DataFrame, threshold: float) -> tuple[float, float]:
    """(env steps, episodes) of the first logged point whose average reaches ``threshold``;
    NaN, NaN if it never does."""
    hit = curve[curve["avg_total_reward"] >= threshold]
    if hit.empty:
        return float("nan"), float("nan")
    row = hit.iloc[0]
    return float(row["env_steps"]), float(row["episodes"])


def curve_milestones(curve: pd.DataFrame, thresholds: Sequence[float]) -> list[dict[str, Any]]:
    """First crossings of each threshold and the maximum, as rows."""
    rows = []
    for t in thresholds:
        steps, eps = first_reaching(curve, t)
        rows.append({"measure": f"first >= {t:g}", "value": t, "env_steps": steps, "episodes": eps})
    i = curve["avg_total_reward"].idxmax()
    rows.append(
        {
            "measure": "maximum",
            "value": float(curve.loc[i, "avg_total_reward"]),
            "env_steps": float(curve.loc[i, "env_steps"]),
            "episodes": float(curve.loc[i, "episodes"]),
        }
    )
    return rows


def paper_milestones(study: Study, paper_logs: str | Path) -> pd.DataFrame:
    rows = []
    for log in study.paper_logs:
        curve = read_paper_log(paper_logs, log.path)
        for r in curve_milestones(curve, study.thresholds):
            rows.append(
                {
                    "sharing": log.sharing,
                    **r,
                    "source": log.path,
                    "last_env_steps": float(curve["env_steps"].iloc[-1]),
                    "last_episodes": float(curve["episodes"].iloc[-1]),
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the kept runs
@dataclass
class KeptRun:
    sharing: str
    seed: int
    curve: pd.DataFrame  # env_steps, episodes, avg_total_reward (rows with a value)
    summary: dict[str, Any]
    evaluation: dict[str, Any] | None
    machine: dict[str, Any] | None
    diagnostics: pd.DataFrame = field(default_factory=pd.DataFrame)
    sampled_evaluation: dict[str, Any] | None = None  # the same plays, sampled actions
    iteration_rate: float = float("nan")  # median env steps/s of one training iteration


def median_iteration_rate(progress: pd.DataFrame) -> float:
    """The median env steps per second of one training iteration: closer to the machine's
    undisturbed speed than the whole run's (whose wall time holds every slow stretch, e.g.
    a test suite beside it, and whose attempts may have run on different days)."""
    if "wall_seconds" not in progress:
        return float("nan")
    d = progress[["env_steps", "wall_seconds"]].astype(float).diff().dropna()
    d = d[(d["env_steps"] > 0) & (d["wall_seconds"] > 0)]
    return float((d["env_steps"] / d["wall_seconds"]).median()) if len(d) else float("nan")


#: how to redo a damaged file of a kept run (psmarl.results' checked readers)
def load_kept(data: str | Path, study: Study, allow_empty: bool = False) -> list[KeptRun]:
    data = Path(data)
    runs = []
    for sharing in ("shared", "independent"):
        base = data / "runs" / study.env / study.method / sharing
        kept = [p for p in base.glob("seed*") if p.name.removeprefix("seed").isdigit()]
        for run in sorted(kept, key=lambda p: int(p.name.removeprefix("seed"))):
            seed = int(run.name.removeprefix("seed"))
            progress = run / "progress.csv"
            summary = run / "train_summary.json"
            if not progress.exists() or not summary.exists():
                raise InputError(
                    f"{run}: a kept run needs progress.csv and train_summary.json; "
                    f"keep it again with psmarl keep-runs"
                )
            df, s = results.read_progress(progress, summary, KEEP_AGAIN)
            curve = df.dropna(subset=["avg_total_reward"])[
                ["env_steps", "episodes", "avg_total_reward"]
            ].reset_index(drop=True)
            ev = run / "eval" / "summary.json"
            sampled = run / SAMPLED_EVAL / "summary.json"
            mj = run / MACHINE_JSON
            runs.append(
                KeptRun(
                    sharing,
                    seed,
                    curve,
                    s,
                    results.read_json(ev, results.EVAL_SUMMARY_KEYS, KEEP_AGAIN)
                    if ev.exists()
                    else None,
                    results.read_json(mj, (), KEEP_AGAIN) if mj.exists() else None,
                    learner_diagnostics(df),
                    results.read_json(sampled, results.EVAL_SUMMARY_KEYS, KEEP_AGAIN)
                    if sampled.exists()
                    else None,
                    median_iteration_rate(df),
                )
            )
    if not runs and not allow_empty:
        raise InputError(
            f"{data}: no kept {study.env}/{study.method} runs "
            f"(psmarl keep-runs copies finished runs here)"
        )
    return runs


# ---------------------------------------------------------------- statistics
def _iqm_axis0(x: np.ndarray, axis: int = 0) -> np.ndarray:
    from scipy import stats as sp_stats

    return sp_stats.trim_mean(x, proportiontocut=0.25, axis=axis)


def iqm_band(
    values: np.ndarray, reps: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM over seeds (rows) at every grid point (columns), with a 95% percentile bootstrap
    band that resamples seeds; with one seed the band is the curve itself."""
    from scipy import stats as sp_stats

    mid = _iqm_axis0(values, axis=0)
    if values.shape[0] < 2:
        return mid, mid.copy(), mid.copy()
    lo, hi = mid.copy(), mid.copy()
    varied = np.ptp(values, axis=0) > 0
    if varied.any():
        ci = sp_stats.bootstrap(
            (values[:, varied],),
            _iqm_axis0,
            axis=0,
            vectorized=True,
            n_resamples=reps,
            confidence_level=0.95,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
        lo[varied] = np.minimum(ci.low, mid[varied])
        hi[varied] = np.maximum(ci.high, mid[varied])
    return mid, lo, hi


def on_grid(runs: Sequence[KeptRun], x: str, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """The runs' curves interpolated onto a common grid of ``x`` (env_steps or episodes)
    over the range every run covers (never extrapolated)."""
    lo = max(r.curve[x].iloc[0] for r in runs)
    hi = min(r.curve[x].iloc[-1] for r in runs)
    grid = np.linspace(lo, hi, points)
    values = np.vstack(
        [
            np.interp(grid, r.curve[x].to_numpy(float), r.curve["avg_total_reward"].to_numpy(float))
            for r in runs
        ]
    )
    return grid, values


def number_text(v: Any, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    return f"{v:,.{digits}f}"


def _steps(v: float) -> str:
    return "-" if not np.isfinite(v) else f"{v / 1e6:.2f}M"


def ci_text(point: float, lo: float, hi: float, fmt: Callable[[float], str]) -> str:
    if not np.isfinite(point):
        return "-"
    if not np.isfinite(lo):
        return fmt(point)
    return f"{fmt(point)} [{fmt(lo)}, {fmt(hi)}]"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def milestone_rows(runs: Sequence[KeptRun], study: Study, spec: dict) -> list[dict[str, Any]]:
    """Per mode and threshold: each seed's first crossing (steps, episodes) and their IQM."""
    from psmarl.stats import iqm_interval

    rows = []
    for sharing in ("shared", "independent"):
        mode = [r for r in runs if r.sharing == sharing]
        if not mode:
            continue
        for t in study.thresholds:
            hits = [first_reaching(r.curve, t) for r in mode]
            steps = np.array([h[0] for h in hits])
            eps = np.array([h[1] for h in hits])
            reached = np.isfinite(steps)
            row = {
                "sharing": sharing,
                "threshold": t,
                "seeds": [r.seed for r in mode],
                "steps": steps,
                "episodes": eps,
                "reached": int(reached.sum()),
                "budget": max(float(r.curve["env_steps"].iloc[-1]) for r in mode),
            }
            if reached.all():
                row["steps_iqm"] = iqm_interval(steps, spec)
                row["episodes_iqm"] = iqm_interval(eps, spec)
            rows.append(row)
    return rows


# ---------------------------------------------------------------- figure
#: how each baseline (psmarl.results.BASELINES) is named and drawn: a horizontal line
BASELINE_STYLE = {
    "random": ("random policy", {"color": "0.4", "ls": ":"}),
    "idle": ("every agent idle", {"color": "tab:green", "ls": ":"}),
}


def _draw_baselines(ax, baselines: Mapping[str, float]) -> None:
    for policy, mean in baselines.items():
        name, style = BASELINE_STYLE[policy]
        ax.axhline(mean, lw=1.2, label=f"{name} ({mean:.1f})", **style)


def draw_curves(
    runs: Sequence[KeptRun],
    study: Study,
    outputs: Sequence[Path],
    paper: Mapping[str, pd.DataFrame],
    baselines: Mapping[str, float],
) -> None:
    from psmarl.figures import _setup, save_figure

    plt = _setup()
    colors = {"shared": "tab:blue", "independent": "tab:orange"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    for ax, x, xlabel in (
        (axes[0], "env_steps", "env steps"),
        (axes[1], "episodes", "training episodes"),
    ):
        for sharing in ("shared", "independent"):
            mode = [r for r in runs if r.sharing == sharing]
            if not mode:
                continue
            c = colors[sharing]
            for r in mode:
                ax.plot(r.curve[x], r.curve["avg_total_reward"], color=c, lw=0.6, alpha=0.35)
            grid, values = on_grid(mode, x)
            mid, lo, hi = iqm_band(values)
            ax.plot(
                grid,
                mid,
                color=c,
                lw=2.0,
                label=f"psmarl {sharing}: IQM of {len(mode)} seed(s), 95% CI",
            )
            ax.fill_between(grid, lo, hi, color=c, alpha=0.2, lw=0)
            if sharing in paper:
                p = paper[sharing]
                xmax = max(float(r.curve[x].iloc[-1]) for r in runs) * 1.15
                p = p[p[x] <= xmax]
                ax.plot(
                    p[x],
                    p["avg_total_reward"],
                    color=c,
                    lw=1.0,
                    ls="--",
                    label=f"paper {sharing} (its training log)",
                )
        _draw_baselines(ax, baselines)
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.4)
    axes[0].set_ylabel("average total reward (last 100 episodes)")
    axes[1].legend(loc="lower right", fontsize="x-small", frameon=True)
    fig.suptitle(
        study.title + "\nthin lines: seeds; thick: IQM over seeds with 95% bootstrap "
        "band; dashed: the paper's runs",
        fontsize="medium",
    )
    fig.tight_layout()
    save_figure(fig, outputs)
    plt.close(fig)


def draw_progress(
    runs: Sequence[UnfinishedRun],
    study: Study,
    outputs: Sequence[Path],
    paper: Mapping[str, pd.DataFrame],
    baselines: Mapping[str, float],
    superseded: Sequence[VariantRun] = (),
) -> None:
    """The curves of the runs still training, beside the paper's over the same env steps
    (and, in grey, superseded runs over the same range)."""
    from psmarl.figures import _setup, save_figure

    plt = _setup()
    colors = {"shared": "tab:blue", "independent": "tab:orange"}
    fig, ax = plt.subplots(figsize=(8, 4.6))
    xmax = max((r.env_steps for r in runs), default=0) * 1.15
    for old in superseded:
        c = old.curve[old.curve["env_steps"] <= xmax]
        ax.plot(
            c["env_steps"],
            c["avg_total_reward"],
            color="0.55",
            lw=1.0,
            ls="-.",
            label=f"superseded ({old.label}): {old.sharing} seed {old.seed}",
        )
    for r in sorted(runs, key=lambda r: (r.sharing, r.seed)):
        ax.plot(
            r.curve["env_steps"],
            r.curve["avg_total_reward"],
            color=colors[r.sharing],
            lw=1.2,
            label=f"psmarl {r.sharing} seed {r.seed} (training)",
        )
    for sharing, p in paper.items():
        p = p[p["env_steps"] <= xmax]
        ax.plot(
            p["env_steps"],
            p["avg_total_reward"],
            color=colors[sharing],
            lw=1.0,
            ls="--",
            label=f"paper {sharing} (its training log)",
        )
    _draw_baselines(ax, baselines)
    ax.set_xlabel("env steps")
    ax.set_ylabel("average total reward (last 100 episodes)")
    ax.grid(True, alpha=0.4)
    ax.legend(loc="lower right", fontsize="x-small", frameon=True)
    ax.set_title(study.title + ": runs still training", fontsize="medium")
    fig.tight_layout()
    save_figure(fig, outputs)
    plt.close(fig)


# ---------------------------------------------------------------- the report
def _paper_rows(milestones: pd.DataFrame | None, sharing: str, measure: str) -> dict | None:
    if milestones is None:
        return None
    m = milestones[(milestones["sharing"] == sharing) & (milestones["measure"] == measure)]
    return None if m.empty else m.iloc[0].to_dict()


def _crossing(steps: float, eps: float) -> str:
    if not np.isfinite(steps):
        return "not reached"
    return f"{_steps(steps)} ({eps / 1000:.1f}k ep.)"


def build_report(
    data: str | Path,
    out: str | Path,
    study: Study = MULTIWALKER_PPO,
    paper_logs: str | Path | None = None,
    spec: dict | None = None,
    command: str = "",
    log: Callable[[str], None] = print,
) -> Path:
    """Write the report (markdown) and its figure from the kept runs in ``data``."""
    from psmarl.stats import check_spec, improvement_interval, iqm_interval

    spec = check_spec(spec)
    data, out = Path(data), Path(out)
    runs = load_kept(data, study, allow_empty=True)
    unfinished = load_unfinished(data, study)
    superseded = load_superseded(data, study)
    ablations = load_variants(data, study, ABLATIONS)
    if not runs and not unfinished:
        raise InputError(
            f"{data}: no kept {study.env}/{study.method} runs, finished or not "
            f"(psmarl keep-runs copies them here)"
        )
    milestones_csv = data / PAPER_MILESTONES
    paper_curves: dict[str, pd.DataFrame] = {}
    if paper_logs is not None:
        milestones = paper_milestones(study, paper_logs)
        results.write_csv_atomic(milestones_csv, milestones)
        paper_curves = {
            log_.sharing: read_paper_log(paper_logs, log_.path) for log_ in study.paper_logs
        }
    elif milestones_csv.exists():
        milestones = results.read_csv(
            milestones_csv,
            ("sharing", "measure", "value", "env_steps", "episodes"),
            "write it again: psmarl reproduction-report --paper-logs <the paper's repository>",
        )
    else:
        milestones = None
    # the baselines kept beside the runs (random, idle): {policy: its summary}
    kept_baselines = {
        policy: results.read_json(path, RANDOM_KEYS, KEEP_AGAIN)
        for policy in results.BASELINES
        if (path := data / results.baseline_summary_json(policy, study.env)).exists()
    }
    baselines = {policy: b["mean"] for policy, b in kept_baselines.items()}

    fig_rel = Path(out.stem) / f"curves_{study.env}_{study.method}"
    figures = [out.parent / f"{fig_rel}.png", out.parent / f"{fig_rel}.pdf"]
    progress_rel = Path(out.stem) / f"training_{study.env}_{study.method}"
    progress_figs = [out.parent / f"{progress_rel}.png", out.parent / f"{progress_rel}.pdf"]
    diag_rel = Path(out.stem) / f"learner_{study.env}_{study.method}"
    diag_figs = [out.parent / f"{diag_rel}.png", out.parent / f"{diag_rel}.pdf"]
    series = _diagnostic_series([*runs, *unfinished], superseded, paper_curves)
    drawn = draw_diagnostics(series, study.title, diag_figs)
    diag_lines = diagnostics_lines(series, diag_rel) if drawn else []
    abl_rel = Path(out.stem) / f"ablations_{study.env}_{study.method}"
    abl_figs = [out.parent / f"{abl_rel}.png", out.parent / f"{abl_rel}.pdf"]
    modes = {a.sharing for a in ablations}
    everyone: list[Any] = [*runs, *unfinished]
    same_modes = [r for r in everyone if r.sharing in modes]
    abl_series = _diagnostic_series(
        same_modes,
        [*ablations, *(r for r in superseded if r.sharing in modes)],
        {s: p for s, p in paper_curves.items() if s in modes},
    )
    if draw_diagnostics(abl_series, study.title, abl_figs, reach=ABLATIONS):
        diag_lines = [
            *ablation_lines(ablations, everyone, paper_curves, superseded),
            f"![controlled runs]({abl_rel}.png)",
            "",
            *diag_lines,
        ]
    else:
        for stale in abl_figs:
            stale.unlink(missing_ok=True)
    stale_figs = (figures if not runs else []) + (progress_figs if not unfinished else [])
    for stale in stale_figs + (diag_figs if not drawn else []):
        stale.unlink(missing_ok=True)
    if unfinished:
        draw_progress(unfinished, study, progress_figs, paper_curves, baselines, superseded)
    if not runs:
        return _interim_report(
            data,
            out,
            study,
            unfinished,
            paper_curves,
            milestones,
            progress_rel,
            command,
            log,
            superseded,
            diag_lines,
        )
    draw_curves(runs, study, figures, paper_curves, baselines)

    by_mode = {s: [r for r in runs if r.sharing == s] for s in ("shared", "independent")}
    lines = [
        f"# Reproduction: {study.title}",
        "",
        f"Generated by `{command or 'psmarl reproduction-report'}` from the runs kept in "
        f"`{data}` (do not edit this file: the discussion comes from "
        f"`{data}/notes.md`). Statistics over seeds: IQM with a 95% percentile bootstrap "
        f"CI that resamples seeds ({spec['bootstrap_reps']} resamples, seed "
        f"{spec['bootstrap_seed']}); with 3 seeds the IQM is their mean and the CI is "
        'coarse. "Average total reward" is the paper\'s measure: the sum over agents of an '
        "episode's rewards, averaged over the last 100 training episodes.",
        "",
    ]
    s0 = runs[0].summary.get("spec", {})
    env = s0.get("env", {})
    lines += [
        "## Setup",
        "",
        f"- env `{study.env}`, preset `{env.get('preset')}` "
        f"(kwargs {json.dumps(env.get('kwargs', {}), sort_keys=True)}, options "
        f"{json.dumps(env.get('options', {}), sort_keys=True)}, agent indication "
        f"`{env.get('agent_indication')}`)",
        f"- method `{study.method}`, settings "
        f"`{json.dumps(s0.get('method_settings', {}).get('training', {}), sort_keys=True)}`",
        f"- budget {json.dumps(s0.get('budget', {}))} per run; kept runs: "
        + ", ".join(f"{s} seeds {[r.seed for r in m]}" for s, m in by_mode.items() if m),
        "",
    ]
    if not paper_curves:
        lines += [
            "The paper's curves are not drawn: this build had no copy of its repository "
            "(`--paper-logs`); its numbers below come from "
            f"`{milestones_csv}`."
            if milestones is not None
            else "No copy of the paper's logs and no kept milestones: paper columns are empty.",
            "",
        ]
    lines += [f"![curves]({fig_rel}.png)", ""]

    # thresholds
    lines += ["## Env steps (and episodes) to first reach an average total reward", ""]
    header = (
        ["mode", "threshold"]
        + [f"seed {s}" for s in sorted({r.seed for r in runs})]
        + ["IQM [95% CI] env steps", "IQM episodes", "paper (its log)"]
    )
    rows = []
    seeds_all = sorted({r.seed for r in runs})
    for m in milestone_rows(runs, study, spec):
        cells = {
            seed: _crossing(st, ep) for seed, st, ep in zip(m["seeds"], m["steps"], m["episodes"])
        }
        if "steps_iqm" in m:
            (s_mid, s_lo, s_hi), (e_mid, e_lo, e_hi) = m["steps_iqm"], m["episodes_iqm"]
            iq_s = ci_text(s_mid, s_lo, s_hi, _steps)
            iq_e = ci_text(e_mid, e_lo, e_hi, lambda v: f"{v / 1000:.1f}k")
        else:
            iq_s = (
                f"{m['reached']} of {len(m['seeds'])} seeds reached it within {_steps(m['budget'])}"
            )
            iq_e = "-"
        p = _paper_rows(milestones, m["sharing"], f"first >= {m['threshold']:g}")
        rows.append(
            [m["sharing"], f">= {m['threshold']:g}"]
            + [cells.get(s, "-") for s in seeds_all]
            + [iq_s, iq_e, _crossing(p["env_steps"], p["episodes"]) if p else "-"]
        )
    lines += [markdown_table(header, rows), ""]

    # maxima
    lines += [
        "## Maximum average total reward",
        "",
        "The paper's numbers are the maxima of one run per mode (its Figures 3c and 4c); "
        "ours are per seed, within this budget.",
        "",
    ]
    header = (
        ["mode"]
        + [f"seed {s}" for s in seeds_all]
        + ["IQM [95% CI]", "paper (its log)", "paper (text)"]
    )
    rows = []
    best = {}
    for sharing, mode in by_mode.items():
        if not mode:
            continue
        cells = {}
        vals = []
        for r in mode:
            i = r.curve["avg_total_reward"].idxmax()
            v = float(r.curve.loc[i, "avg_total_reward"])
            vals.append(v)
            cells[r.seed] = f"{v:.1f} at {_steps(r.curve.loc[i, 'env_steps'])}"
        best[sharing] = vals
        p = _paper_rows(milestones, sharing, "maximum")
        rows.append(
            [sharing]
            + [cells.get(s, "-") for s in seeds_all]
            + [
                ci_text(*iqm_interval(vals, spec), lambda v: f"{v:.1f}"),
                f"{p['value']:.1f} at {_steps(p['env_steps'])} ({p['episodes'] / 1000:.1f}k ep.)"
                if p
                else "-",
                study.paper_claims.get(sharing, "-"),
            ]
        )
    lines += [markdown_table(header, rows), ""]

    # evaluation
    evals = {s: [r.evaluation["mean"] for r in m if r.evaluation] for s, m in by_mode.items()}
    sampled_evals = {
        s: [r.sampled_evaluation["mean"] for r in m if r.sampled_evaluation]
        for s, m in by_mode.items()
    }
    lines += [
        "## Held-out evaluation of the final checkpoints",
        "",
        "Deterministic actions (the mode of the policy's distribution), plays seeded from "
        "the evaluation seed (the same plays for every run); mean with a Student-t 95% CI "
        "over plays. Where a run was also evaluated with actions sampled from its policy, "
        "as its training episodes were (`psmarl evaluate-sampled`, config "
        "`evaluation.sampled_actions`, written to "
        f"`<run>/{SAMPLED_EVAL}/`), that column gives the same plays' mean: the measure the "
        "training curve shows, and the way the paper's play scripts played its policies "
        "(`docs/fidelity.md`, How the paper measured). The baselines' rows, where kept: "
        "uniformly random actions (`psmarl random-baseline`), and every agent idle over "
        "the evaluation's plays (`psmarl idle-baseline`: the env's idle action, zero "
        "torques on multiwalker).",
        "",
    ]

    def ci_of(e):
        return ci_text(e["mean"], e["ci95_low"], e["ci95_high"], lambda v: f"{v:.1f}")

    rows = []
    for sharing, mode in by_mode.items():
        for r in mode:
            if r.evaluation:
                e, sampled = r.evaluation, r.sampled_evaluation
                rows.append(
                    [sharing, r.seed, e["episodes"], ci_of(e), ci_of(sampled) if sampled else "-"]
                )
        if evals.get(sharing):
            rows.append(
                [
                    sharing,
                    "IQM over seeds",
                    "",
                    ci_text(*iqm_interval(evals[sharing], spec), lambda v: f"{v:.1f}"),
                    ci_text(*iqm_interval(sampled_evals[sharing], spec), lambda v: f"{v:.1f}")
                    if sampled_evals.get(sharing)
                    else "",
                ]
            )
    for policy, b in kept_baselines.items():
        rows.append([BASELINE_STYLE[policy][0], "", b["episodes"], f"{b['mean']:.1f}", ""])
    header = ["mode", "seed", "plays", "mean return [95% CI]", "sampled actions [95% CI]"]
    lines += [markdown_table(header, rows), ""]

    # shared vs independent
    if best.get("shared") and best.get("independent"):
        lines += [
            "## Does a shared seed beat an independent one?",
            "",
            "Probability of improvement P(shared > independent) over pairs of seeds "
            "(ties count 1/2), with a bootstrap CI resampling the seeds of each mode; "
            "0.5 means no difference.",
            "",
        ]
        rows = [
            [
                "maximum average total reward",
                ci_text(
                    *improvement_interval([(best["shared"], best["independent"])], spec),
                    lambda v: f"{v:.2f}",
                ),
            ]
        ]
        if evals.get("shared") and evals.get("independent"):
            rows.append(
                [
                    "held-out evaluation return",
                    ci_text(
                        *improvement_interval([(evals["shared"], evals["independent"])], spec),
                        lambda v: f"{v:.2f}",
                    ),
                ]
            )
        if sampled_evals.get("shared") and sampled_evals.get("independent"):
            pairs = [(sampled_evals["shared"], sampled_evals["independent"])]
            rows.append(
                [
                    "held-out evaluation return, sampled actions",
                    ci_text(*improvement_interval(pairs, spec), lambda v: f"{v:.2f}"),
                ]
            )
        lines += [markdown_table(["measure", "P(shared > independent) [95% CI]"], rows), ""]

    # throughput
    lines += [
        "## Throughput",
        "",
        "Wall time of each training run (resumed runs: the sum of their attempts) and its "
        "env steps per second over that wall time, which counts every stretch slowed by "
        'other work on the machine; "median iteration": the median speed of its training '
        "iterations, nearer the machine's undisturbed speed. Machine and date: where and "
        "when the run was kept (a resumed run's earlier attempts may have run on another "
        'day\'s machine, whose speed varies up to 3x from day to day). "env backend": '
        "psmarl's fast env (equal to PettingZoo's step for step, `docs/environments.md`) "
        "or PettingZoo's.",
        "",
    ]
    rows = []
    for sharing, mode in by_mode.items():
        for r in mode:
            s = r.summary
            mach = r.machine or {}
            rt = s.get("runtime", {})
            wall = float(s.get("wall_seconds") or float("nan"))
            rows.append(
                [
                    sharing,
                    r.seed,
                    number_text(int(s["env_steps"])),
                    number_text(int(s["episodes"])),
                    f"{wall / 3600:.2f} h",
                    number_text(s["env_steps"] / wall, 0),
                    number_text(r.iteration_rate, 0),
                    f"{rt.get('num_env_runners', '?')} x {rt.get('num_envs_per_env_runner', '?')}",
                    s.get("backend") or env_backend(s.get("spec", {})),
                    f"{mach.get('cpus', '?')} x {mach.get('cpu', '?')}",
                    str(mach.get("kept_at", "?"))[:10],
                ]
            )
    lines += [
        markdown_table(
            [
                "mode",
                "seed",
                "env steps",
                "episodes",
                "wall time",
                "env steps/s",
                "median iteration (env steps/s)",
                "runners x envs",
                "env backend",
                "machine",
                "date",
            ],
            rows,
        ),
        "",
    ]

    if unfinished:
        lines += unfinished_lines(unfinished, paper_curves) + [
            f"![training]({progress_rel}.png)",
            "",
        ]
    lines += superseded_lines(superseded, paper_curves)
    lines += diag_lines
    _write_report(lines, data, out)
    log(f"wrote {out} and {', '.join(str(f) for f in figures)}")
    return out


def _write_report(lines: list[str], data: Path, out: Path) -> None:
    """The report's lines, then the hand-written ``<data>/notes.md``, written atomically."""
    notes = data / "notes.md"
    if notes.exists():
        lines = [*lines, notes.read_text().strip(), ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    results.write_text_atomic(out, "\n".join(lines))


def _interim_report(
    data: Path,
    out: Path,
    study: Study,
    unfinished: Sequence[UnfinishedRun],
    paper_curves: Mapping[str, pd.DataFrame],
    milestones: pd.DataFrame | None,
    progress_rel: Path,
    command: str,
    log: Callable[[str], None],
    superseded: Sequence[VariantRun] = (),
    diag_lines: Sequence[str] = (),
) -> Path:
    """The report while no run has finished: the runs still training, the paper's marks,
    the learner beside the paper's logs."""
    lines = [
        f"# Reproduction: {study.title}",
        "",
        f"Generated by `{command or 'psmarl reproduction-report'}` from the runs kept in "
        f"`{data}` (do not edit this file). **No run has reached its budget yet**: the "
        "statistics over seeds (thresholds, maxima, evaluation, shared vs independent) "
        "appear when runs finish and are kept.",
        "",
    ]
    lines += unfinished_lines(unfinished, paper_curves)
    lines += [f"![training]({progress_rel}.png)", ""]
    lines += superseded_lines(superseded, paper_curves)
    if milestones is not None:
        lines += ["## The paper's marks (its training logs)", ""]
        rows = [
            [
                r.sharing,
                r.measure,
                f"{r.value:.1f}",
                _steps(r.env_steps),
                f"{r.episodes / 1000:.1f}k",
            ]
            for r in milestones.itertuples()
        ]
        lines += [
            markdown_table(
                ["mode", "measure", "average total reward", "env steps", "episodes"], rows
            ),
            "",
        ]
    lines += diag_lines
    _write_report(lines, data, out)
    log(f"wrote {out} (no finished run yet)")
    return out


# ---------------------------------------------------------------- command line
def add_cli(add: Callable) -> None:
    """``psmarl reproduction-report`` (registered by psmarl.cli)."""

    def report(a):
        build_report(
            a.data,
            a.out,
            paper_logs=a.paper_logs,
            command="psmarl reproduction-report "
            + " ".join(
                f"--{k.replace('_', '-')} {v}" for k, v in (("data", a.data), ("out", a.out)) if v
            ),
        )

    sp = add(
        "reproduction-report",
        report,
        "build docs/reproduction.md and its figure from kept runs (no training)",
        "Reads the runs kept by `psmarl keep-runs` and writes a markdown report with "
        "curves, thresholds, maxima, evaluation, throughput and the learner's diagnostics "
        "(entropy, value fit), beside the paper's runs.",
    )
    sp.add_argument("--data", default="docs/reproduction", help="folder of kept runs")
    sp.add_argument("--out", default="docs/reproduction.md", help="the report to write")
    sp.add_argument(
        "--paper-logs",
        default=None,
        help="a checkout (or git directory) of github.com/parametersharingmadrl/"
        "parametersharingmadrl: draws its curves and refreshes "
        f"<data>/{PAPER_MILESTONES}",
    )
