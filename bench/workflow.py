"""How long Snakemake takes to plan the paper grid: a dry run, and a no-op rerun.

    .venv/bin/python bench/workflow.py            # paper.yaml + paper.baselines.yaml, 5 seeds

1. `snakemake -n` on an empty working directory (every job pending).
2. Every output the dry run lists is created (empty files and folders, oldest first, in
   dependency order of their rules' timestamps), then `snakemake -n` again: nothing may be
   left to do, and the time is what a user waits for "Nothing to be done".

Both are timed ``--repeats`` times (median reported). Writes
``bench/results/workflow_<label>.csv`` and rewrites ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _snakemake(args: list[str], workdir: Path) -> tuple[float, str]:
    exe = Path(sys.executable).with_name("snakemake")
    t0 = time.perf_counter()
    r = subprocess.run(
        [str(exe), *args, "--directory", str(workdir), "-s", str(REPO / "workflow" / "Snakefile")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    el = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return el, r.stdout + r.stderr


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--configfile", nargs="+", default=["config/paper.yaml", "config/paper.baselines.yaml"]
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--label", default="paper-grid")
    p.add_argument("--note", default=None, help="what to know about the machine or the run")
    a = p.parse_args()
    cfg = ["--configfile", *[str(REPO / c) for c in a.configfile]]
    work = Path(tempfile.mkdtemp(prefix="psmarl-wfbench-"))
    try:
        dry = []
        for _ in range(a.repeats):
            el, out = _snakemake(["-n", "-q", *cfg], work)
            dry.append(el)
        _, summary = _snakemake(["--summary", *cfg], work)
        rows = [line.split("\t") for line in summary.splitlines()[1:] if "\t" in line]
        jobs = len({(r[2], Path(r[0]).parent) for r in rows})
        # create every output, rule by rule in the order Snakemake runs them, so that each
        # output is newer than its inputs
        order = [
            "random_baseline",
            "theory",
            "config_record",
            "train",
            "marl_train",
            "evaluate",
            "aggregate",
            "statistics",
            "learning_curve",
            "paper_figure",
            "sharing_summary",
        ]
        rows.sort(key=lambda r: order.index(r[2]) if r[2] in order else len(order))
        for r in rows:
            path = work / r[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            if r[2] in ("train", "marl_train") and path.name == "checkpoint":
                path.mkdir(exist_ok=True)
            else:
                path.touch()
            time.sleep(0.0005)
        noop = []
        for _ in range(a.repeats):
            el, out = _snakemake(["-n", *cfg], work)
            if "Nothing to be done" not in out:
                raise SystemExit("the rerun is not a no-op:\n" + out[-3000:])
            noop.append(el)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.path.insert(0, str(HERE))
    import throughput

    throughput.save_section(
        [
            {
                "outputs": len(rows),
                "jobs": jobs,
                "dry_run_s": statistics.median(dry),
                "noop_rerun_s": statistics.median(noop),
            }
        ],
        "workflow",
        a.label,
        note=a.note,
        digits=2,
    )


if __name__ == "__main__":
    main()
