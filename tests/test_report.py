"""`snakemake --report` over the statistics, tables and figures (slow: runs Snakemake).

The study is synthetic: the run files of every (env, method, sharing, seed) are written by
the test (known values), so Snakemake runs only the aggregation, statistics and figure
rules, then builds the report from their provenance.
"""

from __future__ import annotations

import os
import subprocess
import time
import zipfile

import pandas as pd
import pytest
import yaml
from conftest import REPO
from test_aggregate import make_random, make_run

from psmarl import aggregate as agg
from psmarl import results

ENVS = ["pursuit", "waterworld"]
SEEDS = [0, 1, 2]
CONFIG = {
    "results_dir": "results",
    "seeds": SEEDS,
    "sharing": ["shared", "independent"],
    "envs": {e: {"preset": "paper"} for e in ENVS},
    "methods": {"ppo": {}},
    "training": {"budget": {"iterations": 2}},
    "evaluation": {"episodes": 3},
    "figures": {"formats": ["png"], "band": "range"},
    "report": {"bootstrap_reps": 1000},
}
CAPTION_PHRASES = {
    "statistics.csv": "interquartile mean over seeds",
    "sharing_differences.csv": "Parameter sharing minus independent learning",
    "probability_of_improvement.csv": "averaged over the environments",
    "paper_comparison.csv": "Our results next to the paper",
    "summary.csv": "One row per trained run",
    "learning_curves.csv": "Every run's learning curve",
    "sharing_summary.png": "filled circles",
    "config.yaml": "exactly as the workflow received it",
}


def synthetic_results(wd):
    """Every run's outputs, older than nothing downstream: train, then evaluation files."""
    root = wd / "results"
    t0 = time.time() - 3600
    for env in ENVS:
        make_random(root, env, -1.0)
        for sharing, base in (("shared", 10.0), ("independent", 4.0)):
            for s in SEEDS:
                v = base + s
                make_run(root, env, "ppo", sharing, s, [v - 2, v, v - 1], v)
                ck = root / results.checkpoint_dir(env, "ppo", sharing, s)
                ck.mkdir(parents=True)
                (ck / "psmarl_run.json").write_text("{}")
                ep = pd.DataFrame(
                    {"episode": [0], "seed": [1000000], "total_reward": [v], "length": [10]}
                )
                results.write_csv_atomic(
                    root / results.eval_episodes_csv(env, "ppo", sharing, s), ep
                )
        ep = pd.DataFrame(
            {"episode": [0], "seed": [1000000], "total_reward": [-1.0], "length": [10]}
        )
        results.write_csv_atomic(root / results.random_episodes_csv(env), ep)
    for p in sorted(root.rglob("*")):  # run outputs first, evaluations after them
        later = "/eval" in str(p) or "/eval/" in str(p)
        os.utime(p, (t0 + (60 if later else 0),) * 2)


def targets(root="results"):
    t = [
        f"{root}/{x}"
        for x in (
            agg.STATISTICS_TABLE,
            agg.DIFFERENCES_TABLE,
            agg.IMPROVEMENT_TABLE,
            agg.PAPER_TABLE,
            "report/config.yaml",
            "figures/sharing_summary.png",
        )
    ]
    t += [f"{root}/figures/figure{f}_{e}.png" for f in (3, 4, 5) for e in ENVS]
    t += [f"{root}/figures/learning_curve_{e}.png" for e in ENVS]
    return t


@pytest.mark.slow
def test_report_has_every_table_and_figure_with_captions(tmp_path, snakemake_bin):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    synthetic_results(tmp_path)
    base = [
        snakemake_bin,
        "-s",
        str(REPO / "workflow" / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(cfg),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(
        base + ["--cores", "2", *targets()], capture_output=True, text=True, timeout=600, env=env
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    for rule in ("rule train", "rule evaluate", "rule random_baseline"):
        assert rule not in r.stdout + r.stderr  # only the report stages ran
    st = pd.read_csv(tmp_path / "results" / agg.STATISTICS_TABLE)
    assert set(st["n_seeds"]) == {3}
    d = pd.read_csv(tmp_path / "results" / agg.DIFFERENCES_TABLE)
    assert (d["difference"] == 6.0).all() and (d["prob_improvement"] == 1.0).all()

    out = tmp_path / "report.zip"
    r = subprocess.run(
        base + ["--report", str(out), *targets()],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        html = "".join(
            z.read(n).decode("utf-8", "replace")
            for n in names
            if n.endswith((".html", ".js", ".json"))
        )
    for t in targets():  # stored as report/data/raw/<hash>/<file name>
        assert any(n.endswith("/" + t.rsplit("/", 1)[-1]) for n in names), (t, names[:40])
    for name, phrase in CAPTION_PHRASES.items():
        assert phrase in html, (name, phrase)
    # captions are rendered with the config: the seeds and the bootstrap settings
    assert "[0, 1, 2]" in html
    assert "System Message" not in html  # every caption is valid reStructuredText
    assert "95.0% CI" in html and "1000" in html
    assert "a baseline without runs is named" in html  # Figure 5's caption
