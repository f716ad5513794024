"""Per-stage lock files (envs/<stage>.txt): what each container stage installs.

Each stage's *inputs* come from pyproject.toml, the one place dependencies are declared:

- ``rl``: ``[project] dependencies`` (training, evaluation, the workflow itself);
- ``marl``: the same plus the ``marl`` extra (BenchMARL: MADDPG, QMIX);
- ``analysis``: the subset of ``[project] dependencies`` named in
  ``[tool.psmarl.lock] analysis`` (aggregate, figures, theory: no torch, no ray).

Every stage also gets ``[build-system] requires`` so the image can ``pip install`` psmarl
itself without fetching unhashed build tools. ``scripts/lock.sh`` resolves the inputs into a
fully pinned, hashed requirements file per stage and writes the digest of the inputs into
its header (with envs/constraints.txt, whose pins the locks follow); :func:`check` (run by
the test suite) fails when pyproject.toml changed since.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

STAGES = ("rl", "marl", "analysis")
DIGEST_PREFIX = "# inputs-sha256: "
CONSTRAINTS = "constraints.txt"  # envs/constraints.txt: the pins of the tested venv
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def load_pyproject(path: Path | str) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


def stage_inputs(pyproject: dict) -> dict[str, list[str]]:
    """The declared requirements of every stage, in declaration order."""
    project = pyproject["project"]
    deps = list(project["dependencies"])
    build = list(pyproject.get("build-system", {}).get("requires", []))
    extras = project.get("optional-dependencies", {})
    if "marl" not in extras:
        raise KeyError("pyproject.toml: [project.optional-dependencies] has no 'marl' extra")
    by_name = {canonicalize_name(Requirement(r).name): r for r in deps}
    names = pyproject.get("tool", {}).get("psmarl", {}).get("lock", {}).get("analysis")
    if not names:
        raise KeyError("pyproject.toml: [tool.psmarl.lock] analysis (package names) is missing")
    missing = [n for n in names if canonicalize_name(n) not in by_name]
    if missing:
        raise KeyError(
            f"pyproject.toml: [tool.psmarl.lock] analysis names {missing}, "
            "which are not in [project] dependencies"
        )
    analysis = [by_name[canonicalize_name(n)] for n in names]
    return {
        "rl": deps + build,
        "marl": deps + list(extras["marl"]) + build,
        "analysis": analysis + build,
    }


def input_digest(requirements: list[str], constraints: str = "") -> str:
    """Digest of a stage's declared requirements and of envs/constraints.txt (the venv's pins,
    which the locks follow so that a container runs the versions the tests ran)."""
    canon = "\n".join(str(Requirement(r)) for r in requirements)
    return hashlib.sha256((canon + "\n--\n" + constraints).encode()).hexdigest()


def read_lock(path: Path) -> tuple[str | None, dict[str, str], list[str]]:
    """(recorded input digest, {name: pinned version}, names pinned without a hash)."""
    digest, pins, unhashed = None, {}, []
    text = path.read_text()
    for line in text.splitlines():
        if line.startswith(DIGEST_PREFIX):
            digest = line[len(DIGEST_PREFIX) :].strip()
    # a requirement spans its line and the `\`-continued --hash lines after it
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = _PIN.match(block)
        if not m:
            continue
        name = canonicalize_name(m.group(1))
        pins[name] = m.group(3)
        if "--hash=sha256:" not in block:
            unhashed.append(name)
    return digest, pins, unhashed


def check(envs_dir: Path | str, pyproject_path: Path | str) -> list[str]:
    """Every way the lock files disagree with pyproject.toml (empty: in sync)."""
    envs_dir = Path(envs_dir)
    problems: list[str] = []
    inputs = stage_inputs(load_pyproject(pyproject_path))
    cons_path = envs_dir / CONSTRAINTS
    constraints = cons_path.read_text() if cons_path.exists() else ""
    for stage, reqs in inputs.items():
        path = envs_dir / f"{stage}.txt"
        if not path.exists():
            problems.append(f"{path}: missing (run scripts/lock.sh)")
            continue
        digest, pins, unhashed = read_lock(path)
        if digest != input_digest(reqs, constraints):
            problems.append(
                f"{path}: made from other inputs than pyproject.toml and "
                f"{CONSTRAINTS} give stage {stage!r} now (run scripts/lock.sh)"
            )
        if unhashed:
            problems.append(f"{path}: pins without --hash: {', '.join(unhashed)}")
        for r in map(Requirement, reqs):
            name = canonicalize_name(r.name)
            if name not in pins:
                problems.append(f"{path}: {r.name} is declared but not pinned")
            elif not r.specifier.contains(pins[name], prereleases=True):
                problems.append(f"{path}: {r.name}=={pins[name]} violates {r}")
    return problems
