"""Run the same multi-worker ``psmarl evaluate`` many times and count the tries that hang
(issue 18, defect 1; docs/reliability.md, "No hang").

    python scripts/repeat_evaluation.py --tries 50 --out /tmp/repeat-eval

First trains the tiny PPO pursuit run of ``tests/data/tiny.yaml`` into ``OUT/run`` (once;
about a minute), then runs the issue's command ``psmarl evaluate ... --episodes 12
--workers 3`` on its checkpoint ``--tries`` times, each in its own session with a time
limit. A try that passes the limit is killed with its whole session (the old evaluator's
workers ignored SIGTERM) and counted as hung; the log says whether all plays had ended
first (the issue's symptom). The ``psmarl`` beside this Python runs, with the environment
as given: ``PYTHONPATH=<an older checkout>/src`` measures that code instead.
Prints one line per try and a summary; writes ``OUT/tries.csv``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
PSMARL = Path(sys.executable).with_name("psmarl")


def _specs(config: Path, env: str) -> tuple[dict, dict]:
    from psmarl import config as cfg

    c = cfg.load(config)
    return cfg.train_spec(c, env, "ppo", "shared", 0), cfg.eval_spec(c, env)


def _try(cmd: list[str], limit: float, log: Path) -> tuple[int | None, float]:
    """Exit code (None: killed at the limit) and seconds of one try; stderr to ``log``."""
    t0 = time.monotonic()
    with open(log, "w") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            rc: int | None = p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            rc = None
        # the session holds the evaluation and its workers (also those left by a clean exit)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    return rc, time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", required=True, help="folder for the run, the logs and tries.csv")
    ap.add_argument("--tries", type=int, default=50)
    ap.add_argument("--episodes", type=int, default=12)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument(
        "--limit",
        type=float,
        default=300.0,
        help="seconds before a try counts as hung (default %(default)s)",
    )
    ap.add_argument("--env", default="pursuit")
    ap.add_argument("--config", default=str(REPO / "tests" / "data" / "tiny.yaml"))
    a = ap.parse_args()
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    train, ev = _specs(Path(a.config), a.env)
    run = out / "run"
    if not (run / "train_summary.json").exists():
        subprocess.run(
            [str(PSMARL), "train", "--spec", json.dumps(train), "--run-dir", str(run)], check=True
        )
    cmd = [
        str(PSMARL),
        "evaluate",
        "--spec",
        json.dumps(ev),
        "--checkpoint",
        str(run / "checkpoint"),
        "--episodes",
        str(a.episodes),
        "--workers",
        str(a.workers),
    ]
    rows = []
    for i in range(1, a.tries + 1):
        eval_out = out / f"eval{i}"
        log = out / f"try{i}.log"
        rc, seconds = _try([*cmd, "--out-dir", str(eval_out)], a.limit, log)
        played = re.findall(r"(\d+)/\d+ plays", log.read_text())
        summary = eval_out / "summary.json"
        mean = json.loads(summary.read_text())["mean"] if summary.exists() else None
        rows.append(
            {
                "try": i,
                "rc": rc,
                "hung": rc is None,
                "seconds": round(seconds, 1),
                "plays_logged": int(played[-1]) if played else 0,
                "mean": mean,
            }
        )
        print(
            f"try {i}: "
            + ("HUNG" if rc is None else f"rc {rc}")
            + f" after {seconds:.1f} s, {rows[-1]['plays_logged']}/{a.episodes} plays "
            f"logged, mean {mean}",
            flush=True,
        )
    df = pd.DataFrame(rows)
    df.to_csv(out / "tries.csv", index=False)
    hung = df[df["hung"]]
    print(
        f"{len(df)} tries of {' '.join(cmd[1:2])} --episodes {a.episodes} --workers "
        f"{a.workers} on {a.env}: {int((df['rc'] == 0).sum())} finished, {len(hung)} hung "
        f"({int((hung['plays_logged'] == a.episodes).sum())} of them after all plays), "
        f"{int(((df['rc'] != 0) & ~df['hung']).sum())} failed; distinct means: "
        f"{sorted(df['mean'].dropna().round(6).unique().tolist())}; limit {a.limit:g} s"
    )


if __name__ == "__main__":
    main()
