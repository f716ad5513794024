"""Every training job's run spec, for a set of config files: to show that a change of the
code moved no job's spec (Snakemake reruns a job whose params changed).

    python scripts/job_specs.py dump OUT.json             # the specs of this checkout
    python scripts/job_specs.py compare BEFORE.json AFTER.json

``dump`` writes, per config set (each config/*.yaml alone, the overlays on their base,
the test configs), every job's ``--spec`` JSON exactly as the train rule passes it
(common.smk's ``as_json``). To compare two commits, dump each with its own ``src`` on
``PYTHONPATH`` (``git archive <commit> src workflow | tar -x -C /tmp/before``). RLlib jobs
must be byte-identical; a BenchMARL job's spec may only be equal as a dict (its JSON is
compared parsed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG_SETS = {
    "config/config.yaml": ["config/config.yaml"],
    "config/heterogeneous.yaml": ["config/heterogeneous.yaml"],
    "config/paper.yaml": ["config/paper.yaml"],
    "config/paper.yaml+paper.baselines.yaml": ["config/paper.yaml", "config/paper.baselines.yaml"],
    "config/reproduce.yaml": ["config/reproduce.yaml"],
    "config/paper.yaml+learning_check.yaml": ["config/paper.yaml", "config/learning_check.yaml"],
    "tests/data/tiny.yaml": ["tests/data/tiny.yaml"],
    "tests/data/tiny.yaml+tiny.baselines.yaml": [
        "tests/data/tiny.yaml",
        "tests/data/tiny.baselines.yaml",
    ],
    "tests/data/tiny_all.yaml": ["tests/data/tiny_all.yaml"],
}


def as_json(obj) -> str:
    """common.smk's params string."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def dump(root: Path = ROOT) -> dict[str, dict[str, str]]:
    from psmarl import config as cfg

    # before the one catalogue, train_jobs/train_spec were RLlib's only
    one_grid = hasattr(cfg, "job_backend")
    out: dict[str, dict[str, str]] = {}
    for name, files in CONFIG_SETS.items():
        data: dict = {}
        if any(not (root / f).exists() for f in files):
            continue  # a config set this checkout does not have yet
        for f in files:
            data = _merge(data, cfg.load(root / f))
        if hasattr(cfg, "drop_left_out"):  # overlays' nulls (not in older checkouts)
            cfg.drop_left_out(data)
        cfg.validate(data)
        specs = {}
        for job in cfg.train_jobs(data):
            specs["/".join(map(str, job))] = as_json(cfg.train_spec(data, *job))
        if not one_grid:
            for job in cfg.baseline_jobs(data):
                specs["/".join(map(str, job))] = as_json(cfg.baseline_train_spec(data, *job))
        out[name] = specs
    return out


def compare(before: dict, after: dict) -> list[str]:
    """Differences (empty: every job and spec the same, in the same order)."""
    problems = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name, {}), after.get(name, {})
        if list(b) != list(a):
            problems.append(f"{name}: jobs differ (or their order): {list(b)} != {list(a)}")
            continue
        for job in b:
            if b[job] == a[job]:
                continue
            if json.loads(b[job]) == json.loads(a[job]):
                problems.append(f"{name}: {job}: equal as a dict, not byte-identical")
            else:
                problems.append(f"{name}: {job}: spec differs")
    return problems


def main(argv: list[str]) -> int:
    if argv[:1] == ["dump"] and len(argv) == 2:
        specs = dump()
        Path(argv[1]).write_text(json.dumps(specs, indent=1))
        n = sum(len(v) for v in specs.values())
        print(f"{argv[1]}: {n} jobs in {len(specs)} config sets")
        return 0
    if argv[:1] == ["compare"] and len(argv) == 3:
        before, after = (json.loads(Path(p).read_text()) for p in argv[1:])
        problems = compare(before, after)
        for p in problems:
            print(p)
        n = sum(len(v) for v in before.values())
        print(f"{n} jobs compared over {len(before)} config sets: {len(problems)} difference(s)")
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
