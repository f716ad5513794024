"""docs/extending.md, followed to the letter (issue 17: a new method and a new env each work
from that page alone).

The test reads the page's code blocks, each tagged by its first line: ``# src/psmarl/...py``
is a new module (written as is) or, for a file that exists (a catalogue), lines to add (the
imports after its last import, the indented entries before the tuple's closing parenthesis);
``# <name>.yaml`` is a config; ``# <what>`` on a bash block is a list of commands, run as
written (``.venv/bin/X`` is this venv's X). All of it happens in a copy of the package
(``src/``, ``workflow/``, ``config/``) put first on PYTHONPATH, so the repository is never
touched.
"""

from __future__ import annotations

import csv
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "extending.md"
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)


def doc_blocks() -> dict[str, tuple[str, str]]:
    """Tag (the first line's comment, without '# ') -> (language, the block's other lines)."""
    out = {}
    for lang, body in FENCE.findall(DOC.read_text()):
        first, _, rest = body.partition("\n")
        if first.startswith("# "):
            tag = first[2:].strip()
            assert tag not in out, f"docs/extending.md has two blocks tagged {tag!r}"
            out[tag] = (lang, rest)
    return out


def add_lines(path: Path, lines: list[str]) -> None:
    """Add a block's lines to an existing module: the unindented ones (imports) after its last
    top-level import, the indented ones (entries) before the last line that is ')'."""
    text = path.read_text().split("\n")
    imports = [ln for ln in lines if ln.strip() and not ln[0].isspace()]
    entries = [ln for ln in lines if ln.strip() and ln[0].isspace()]
    assert imports and entries, f"expected an import and an entry for {path.name}: {lines}"
    close = max(i for i, ln in enumerate(text) if ln == ")")
    text[close:close] = entries
    last = max(i for i, ln in enumerate(text) if ln.startswith(("from ", "import ")))
    text[last + 1 : last + 1] = imports
    path.write_text("\n".join(text))


def apply_doc(root: Path) -> dict[str, tuple[str, str]]:
    """Copy the package, workflow and configs under ``root`` and apply the page to the copy."""
    for part in ("src", "workflow", "config"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    blocks = doc_blocks()
    for tag, (lang, body) in blocks.items():
        m = re.match(r"(src/psmarl/\S+\.py)(:.*)?$", tag)
        if m:
            assert lang == "python", tag
            target = root / m.group(1)
            if target.exists():
                add_lines(target, body.rstrip("\n").split("\n"))
            else:
                target.write_text(body)
        elif tag.endswith(".yaml"):
            (root / tag).write_text(body)
    return blocks


def run(root: Path, argv: list[str]) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(root / "src"),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "XDG_CACHE_HOME": str(root / "cache"),  # the methods' keys cache of the copy
    }
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=600)


def run_commands(root: Path, blocks, tag: str) -> list[str]:
    """Run the commands of the bash block tagged ``tag``; their stdouts (each must succeed)."""
    lang, body = blocks[tag]
    assert lang == "bash", tag
    outs = []
    for line in body.strip().split("\n"):
        argv = shlex.split(line)
        if argv[0].startswith(".venv/bin/"):
            argv[0] = str(BIN / argv[0].removeprefix(".venv/bin/"))
        p = run(root, argv)
        assert p.returncode == 0, f"{line}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        outs.append(p.stdout + p.stderr)
    return outs


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    root = tmp_path_factory.mktemp("extended")
    return root, apply_doc(root)


def test_the_page_has_every_block_the_test_follows():
    blocks = doc_blocks()
    for tag in (
        "src/psmarl/envs/spread.py",
        "src/psmarl/envs/catalogue.py: add the import and the entry in ENVS",
        "src/psmarl/methods/appo.py",
        "src/psmarl/methods/catalogue.py: add the import and the entry in METHODS",
        "spread_appo.yaml",
        "check the additions",
        "train one run",
    ):
        assert tag in blocks, f"docs/extending.md lost its block {tag!r}"


def test_the_catalogues_are_where_the_page_says(extended):
    root, _ = extended
    for module, entry in (
        ("envs/catalogue.py", "    spread.SPREAD,"),
        ("methods/catalogue.py", "    appo.APPO,"),
    ):
        text = (root / "src/psmarl" / module).read_text()
        assert entry in text.split("\n"), module
        # the repository's own catalogue is untouched
        assert entry not in (REPO / "src/psmarl" / module).read_text().split("\n")


def test_new_env_and_method_pass_the_checks(extended):
    root, blocks = extended
    envs_out, methods_out, appo_out, validate_out = run_commands(
        root, blocks, "check the additions"
    )
    assert re.search(r"^spread: MPE simple_spread", envs_out, re.M), envs_out
    assert "preset three:" in envs_out and "default preset: three" in envs_out
    assert re.search(r"^appo: Asynchronous PPO", methods_out, re.M), methods_out
    # the typed settings: each default with its docstring
    assert "training.lr = 0.0005  # learning rate" in appo_out, appo_out
    assert "model.fcnet_hiddens = [64, 64]  # hidden layer sizes" in appo_out, appo_out
    assert "config OK: 1 env(s), 1 training run(s)" in validate_out


def test_sign_clipping_on_the_new_env_is_refused(extended):
    root, _ = extended
    cfg = yaml.safe_load((root / "spread_appo.yaml").read_text())
    cfg["methods"]["appo"]["clip_rewards"] = True
    (root / "clipped.yaml").write_text(yaml.safe_dump(cfg))
    p = run(root, [str(BIN / "psmarl"), "validate", "clipped.yaml"])
    assert p.returncode != 0
    assert "methods.appo.per_env.spread.clip_rewards" in p.stderr, p.stderr[-2000:]


@pytest.mark.slow
def test_new_method_trains_on_new_env_from_the_page(extended):
    root, blocks = extended
    run_commands(root, blocks, "train one run")
    budget = yaml.safe_load((root / "spread_appo.yaml").read_text())["training"]["budget"]
    with open(root / "results/runs/spread/appo/shared/seed0/progress.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert rows, "no progress rows"
    assert int(rows[-1]["env_steps"]) >= budget["env_steps"]
    assert [int(r["iteration"]) for r in rows] == list(range(1, len(rows) + 1))
    # 25-step episodes: every iteration ends some, so every row has a return
    assert int(rows[-1]["episodes"]) >= budget["env_steps"] // 25
    assert all(math.isfinite(float(r["avg_total_reward"])) for r in rows)
