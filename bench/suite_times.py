"""The test suite's time per file, from the output of ``./test.sh --durations=0``:

    ./test.sh --durations=0 2>&1 | tee /tmp/suite.log
    .venv/bin/python bench/suite_times.py /tmp/suite.log --label suite-2026-12-02 \\
        --note "conditions of the run"

Sums the call, setup and teardown times of every test in the ``--durations=0`` list per test
file, and takes the suite's wall time and outcome from pytest's last line. With pytest-xdist
workers (test.sh runs two) the files' sums add up to more than the wall time: they ran side by
side. Writes bench/results/suite_<label>.csv and rewrites bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import save_section

DURATION = re.compile(r"^\s*([0-9.]+)s (call|setup|teardown)\s+(\S+?)::")
LAST_LINE = re.compile(r"^=+ (.*) in ([0-9.]+)s(?: \(([0-9:]+)\))? =+$")


def per_file(lines: list[str]) -> dict[str, float]:
    """Seconds per test file: the sum of its tests' call, setup and teardown durations."""
    total: dict[str, float] = defaultdict(float)
    for line in lines:
        m = DURATION.match(line)
        if m:
            total[m.group(3)] += float(m.group(1))
    return dict(total)


def outcome(lines: list[str]) -> tuple[str, float]:
    """pytest's summary ("875 passed, 2 warnings") and the wall time in seconds."""
    for line in reversed(lines):
        m = LAST_LINE.match(line.strip())
        if m:
            return m.group(1), float(m.group(2))
    raise SystemExit("no pytest summary line ('=== ... in N s ===') in the log")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("log", type=Path, help="the output of ./test.sh --durations=0")
    p.add_argument("--label", required=True, help="the section's name, e.g. suite-2026-12-02")
    p.add_argument("--note", default="", help="conditions of the run, printed under its table")
    a = p.parse_args()
    lines = a.log.read_text(errors="replace").splitlines()
    files = per_file(lines)
    if not files:
        raise SystemExit(f"{a.log}: no --durations lines (run ./test.sh --durations=0)")
    summary, wall = outcome(lines)
    note = f"Wall time {wall / 60:.1f} min ({summary}). " + a.note
    rows = [
        {"file": f, "seconds": round(s, 1)}
        for f, s in sorted(files.items(), key=lambda kv: kv[1], reverse=True)
    ]
    command = f"./test.sh --durations=0; python bench/suite_times.py <its log> --label {a.label}"
    save_section(rows, "suite", a.label, note.strip(), digits=1, command=command)


if __name__ == "__main__":
    main()
