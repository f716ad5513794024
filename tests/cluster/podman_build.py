"""Build an Apptainer recipe (containers/<stage>.def) with podman, its install steps unchanged.

Apptainer cannot be installed on the test machines and no registry is reachable, so the
test builds the recipe with podman on a local stand-in for its `From:` image
(tests/cluster/podman_base.sh). spython (the recipe library Apptainer's own tools use)
parses the recipe; its %files become COPY lines, its %environment ENV lines and its %post
runs as one `/bin/sh -e` script, byte for byte what spython read. Only the base differs.

Images are cached by tag ``psmarl-<stage>:<hash of recipe, copied files, base image id>``.

    python tests/cluster/podman_build.py containers/analysis.def [LOG]  # prints the image tag
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from spython.main.parse.parsers import SingularityParser

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("PSMARL_BASE_IMAGE", "localhost/psmarl-base:bookworm")
CACHE = Path(os.environ.get("PSMARL_CACHE", "/var/tmp/psmarl-cache"))


class BuildError(RuntimeError):
    pass


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(CACHE / "containers.conf")
    return env


def podman(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(["podman", *args], capture_output=True, text=True, env=podman_env(), **kw)
    if check and r.returncode != 0:
        raise BuildError(
            f"podman {' '.join(args[:3])} ... failed ({r.returncode}):\n"
            f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        )
    return r


def parse(recipe_path: Path):
    recipes = SingularityParser(str(recipe_path)).recipe
    if len(recipes) != 1:
        raise BuildError(f"{recipe_path}: expected one build stage, spython read {list(recipes)}")
    return next(iter(recipes.values()))


def containerfile(recipe, base: str) -> tuple[str, list[tuple[str, str]], str]:
    """(Containerfile text, [(source, destination)], %post script)."""
    files = []
    for line in recipe.files:
        parts = line.split()
        if len(parts) == 1:
            parts = [parts[0], parts[0]]
        src, dest = parts
        files.append((src, dest))
    lines = [f"FROM {base}"]
    for i, (_, dest) in enumerate(files):
        lines.append(f"COPY files/{i} {dest}")
    lines.append("COPY post.sh /.psmarl-post.sh")
    lines.append("RUN /bin/sh -e /.psmarl-post.sh && rm /.psmarl-post.sh")
    for e in recipe.environ:
        m = re.match(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$", e)
        if not m:
            raise BuildError(f"%environment line not of the form [export] KEY=VALUE: {e!r}")
        lines.append(f"ENV {m.group(1)}={m.group(2)}")
    for lab in recipe.labels:
        k, _, v = lab.partition(" ")
        lines.append(f"LABEL {k}={v.strip()!r}".replace("'", '"'))
    post = "\n".join(recipe.install) + "\n"
    return "\n".join(lines) + "\n", files, post


def build(
    recipe_path: Path | str,
    stage: str,
    base: str = BASE_IMAGE,
    *,
    timeout: float = 1200,
    log: Path | None = None,
) -> str:
    """Build (or reuse) the image of a recipe; returns its tag. ``log``: a file that gets
    podman's build output as it comes (the rl and marl builds take many minutes)."""
    recipe_path = Path(recipe_path)
    recipe = parse(recipe_path)
    text, files, post = containerfile(recipe, base)
    base_id = podman("image", "inspect", "--format", "{{.Id}}", base).stdout.strip()
    h = hashlib.sha256(text.encode() + post.encode() + base_id.encode())
    for src, _ in files:
        p = REPO / src
        if not p.exists():
            raise BuildError(f"{recipe_path}: %files source {src} does not exist")
        for f in sorted([p] if p.is_file() else p.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(str(f.relative_to(REPO)).encode() + f.read_bytes())
    tag = f"localhost/psmarl-{stage}:{h.hexdigest()[:16]}"
    if podman("image", "exists", tag, check=False).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory(prefix=f"psmarl-build-{stage}-") as ctx:
        ctx = Path(ctx)
        (ctx / "files").mkdir()
        for i, (src, _) in enumerate(files):
            p = REPO / src
            if p.is_dir():
                shutil.copytree(
                    p,
                    ctx / "files" / str(i),
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
                )
            else:
                shutil.copy(p, ctx / "files" / str(i))
        (ctx / "post.sh").write_text(post)
        (ctx / "Containerfile").write_text(text)
        # pip inside the build trusts the host's CA bundle (a build-time setting, not the
        # recipe's): the container's own bundle may not know this network's proxy CA
        pipconf = ctx / "pip.conf"
        pipconf.write_text("[global]\ncert = /etc/ssl/certs/host-ca.crt\n")
        args = [
            "build",
            "--network",
            "host",
            "--pull=never",
            "-v",
            "/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/host-ca.crt:ro",
            "-v",
            f"{pipconf}:/etc/pip.conf:ro",
            "-t",
            tag,
            "-f",
            str(ctx / "Containerfile"),
            str(ctx),
        ]
        if log is None:
            podman(*args, timeout=timeout)
        else:
            with open(log, "a") as f:
                r = subprocess.run(
                    ["podman", *args],
                    stdout=f,
                    stderr=subprocess.STDOUT,
                    env=podman_env(),
                    timeout=timeout,
                )
            if r.returncode != 0:
                tail = Path(log).read_text()[-3000:]
                raise BuildError(
                    f"podman build of {recipe_path} failed ({r.returncode}); log {log}:\n{tail}"
                )
    # keep one image per stage: older builds of it only fill the disk
    old = podman(
        "images", "--format", "{{.Repository}}:{{.Tag}}", f"localhost/psmarl-{stage}", check=False
    ).stdout.split()
    for ref in old:
        if ref != tag:
            podman("rmi", ref, check=False)
    return tag


if __name__ == "__main__":
    path = Path(sys.argv[1])
    print(
        build(
            path,
            path.stem,
            timeout=float(os.environ.get("PSMARL_BUILD_TIMEOUT", 1200)),
            log=Path(sys.argv[2]) if len(sys.argv) > 2 else None,
        )
    )
