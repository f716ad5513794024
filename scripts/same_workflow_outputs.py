"""Do two commits of psmarl produce the same workflow outputs? (issue 17: behaviour does not
move when the code is reshaped)

Runs the tiny workflow (tests/data/tiny.yaml + tiny.baselines.yaml: every stage, RLlib and
BenchMARL training) once per commit, each from its own git worktree with that commit's
package first on PYTHONPATH, then compares every data file (CSV/JSON, wall-clock columns
aside) as scripts/prove_images.py does, and writes the record:

    .venv/bin/python scripts/same_workflow_outputs.py BEFORE AFTER --out docs/data/same_outputs

The configs are taken from AFTER's tree for both runs (a config that AFTER renamed still
reads under BEFORE when its keys are the old ones: pass --configs to choose).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import prove_images  # noqa: E402  (its comparison of two runs' data files)

BIN = Path(sys.executable).parent


def rev(commit: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", commit],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def run_at(commit: str, configs: list[Path], wd: Path, logfile: Path) -> float:
    tree = wd / "tree"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), commit],
        check=True,
        capture_output=True,
    )
    try:
        env = {**os.environ, "PYTHONPATH": str(tree / "src"), "PATH": f"{BIN}:{os.environ['PATH']}"}
        cmd = [
            str(BIN / "snakemake"),
            "-s",
            str(tree / "workflow" / "Snakefile"),
            "--directory",
            str(wd),
            "--cores",
            "2",
            "--configfile",
            *[str(c) for c in configs],
        ]
        t0 = time.time()
        with logfile.open("w") as log:
            r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        if r.returncode != 0:
            raise SystemExit(f"the workflow at {commit} failed: see {logfile}")
        return time.time() - t0
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
            capture_output=True,
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("before", help="a commit")
    p.add_argument("after", help="a commit")
    p.add_argument(
        "--configs",
        nargs="+",
        type=Path,
        default=[REPO / "tests/data/tiny.yaml", REPO / "tests/data/tiny.baselines.yaml"],
    )
    p.add_argument("--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    a = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="psmarl-same-outputs-"))
    rec: dict = {
        "before": rev(a.before),
        "after": rev(a.after),
        "configs": [str(c.relative_to(REPO)) for c in a.configs],
        "machine": prove_images.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    try:
        for side in ("before", "after"):
            wd = work / side
            wd.mkdir()
            print(f"running the workflow at {rec[side]} in {wd}", flush=True)
            rec[f"{side}_seconds"] = round(
                run_at(getattr(a, side), a.configs, wd, work / f"{side}.log"), 1
            )
        cmp = prove_images.compare_runs(work / "before" / "results", work / "after" / "results")
    except SystemExit:
        print(f"kept {work} for a look", file=sys.stderr)
        raise
    rec["summary"] = cmp["summary"]
    rec["only_in_after"] = cmp["only_in_second"]
    rec["differing"] = [f for f in cmp["files"] if f["result"] != "same"]
    rec["files"] = len(cmp["files"])
    rec["same"] = sum(f["result"] == "same" for f in cmp["files"])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(rec, indent=1) + "\n")
    lines = [
        f"# Workflow outputs of {rec['before']} vs {rec['after']}",
        "",
        f"Written by `scripts/same_workflow_outputs.py {a.before} {a.after} --out {a.out}` "
        f"on {rec['date']} ({rec['machine']}); configs: {', '.join(rec['configs'])}.",
        "",
        f"**{rec['same']} of {rec['files']} data files equal** (CSV and JSON, wall-clock "
        "columns aside); files only in the second run: "
        f"{', '.join(rec['only_in_after']) or 'none'}.",
        "",
        "| group | files | equal |",
        "|---|---|---|",
        *[f"| {g} | {s['files']} | {s['same']} |" for g, s in sorted(rec["summary"].items())],
        "",
    ]
    if rec["differing"]:
        lines += ["| file | result |", "|---|---|"]
        lines += [f"| {f['file']} | {f['result']} |" for f in rec["differing"]]
        lines.append("")
    a.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if not rec["differing"] and not rec["only_in_after"] else 1


if __name__ == "__main__":
    sys.exit(main())
