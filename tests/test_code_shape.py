"""The code's shape: no import cycle in psmarl (import-linter, the contracts in
pyproject.toml), a clean ``ruff check`` and ``ruff format --check``, and no mypy error beyond
mypy-baseline.txt (all configured in pyproject.toml). Each takes seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from import_contracts import one_cycle, strongly_connected

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    exe = BIN / name
    assert exe.exists(), f"{name} is not installed (the dev extra: scripts/setup.sh)"
    return str(exe)


def lint_imports(cwd: Path, **env: str) -> subprocess.CompletedProcess:
    # --no-cache: no .import_linter_cache in the tree; the graph takes well under a second
    return subprocess.run(
        [tool("lint-imports"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **env},
    )


def test_psmarl_has_no_import_cycle():
    r = lint_imports(REPO)
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    assert "Contracts: 2 kept, 0 broken." in r.stdout


def test_the_contract_finds_a_package_that_imports_its_own_modules_back(tmp_path):
    # the shape of psmarl.methods' old registration: the package imports a module at its
    # bottom and the module imports the package; import-linter's acyclic_siblings misses it
    pkg = tmp_path / "cyclepkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("def f():\n    from cyclepkg.sub import a\n")
    (pkg / "sub" / "a.py").write_text("from cyclepkg.sub import f\n")
    (pkg / "b.py").write_text("from cyclepkg import c\n")
    (pkg / "c.py").write_text("def g():\n    from cyclepkg import b\n")  # a lazy import
    (pkg / "d.py").write_text("from cyclepkg import b\n")  # imports into a cycle: not in it
    (tmp_path / "pyproject.toml").write_text(
        '[tool.importlinter]\nroot_package = "cyclepkg"\n'
        'contract_types = ["acyclic_modules: import_contracts.AcyclicModulesContract"]\n'
        '[[tool.importlinter.contracts]]\nname = "acyclic"\ntype = "acyclic_modules"\n'
        'packages = ["cyclepkg"]\n'
    )
    r = lint_imports(tmp_path, PYTHONPATH=f"{tmp_path}{os.pathsep}{REPO / 'tests'}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Import cycle among 2 modules: cyclepkg.sub, cyclepkg.sub.a." in r.stdout
    assert "cyclepkg.sub -> cyclepkg.sub.a (l. 2)" in r.stdout
    assert "Import cycle among 2 modules: cyclepkg.b, cyclepkg.c." in r.stdout
    assert "cyclepkg.d" not in r.stdout


def test_strongly_connected_components_and_a_loop_through_each():
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": {"e"},
        "e": {"d"},
        "f": {"a"},
        "g": set(),
    }
    assert strongly_connected(graph) == [["a", "b", "c"], ["d", "e"]]
    assert one_cycle(["a", "b", "c"], graph) == ["a", "b", "c", "a"]
    assert one_cycle(["d", "e"], graph) == ["d", "e", "d"]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []
    # deep chains do not hit the recursion limit
    chain = {str(i): {str(i + 1)} for i in range(5000)} | {"5000": {"0"}}
    assert len(strongly_connected(chain)[0]) == 5001


def test_ruff_check_is_clean():
    r = subprocess.run(
        [tool("ruff"), "check", "--no-cache", "src", "tests", "scripts", "bench"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:] + "\n(see: ruff check --fix)"


def test_ruff_format_leaves_every_file_as_it_is():
    """The code's format is ruff's ([tool.ruff], line length 100): ``ruff format --check``
    changes nothing (fix with ``ruff format .``)."""
    r = subprocess.run(
        [tool("ruff"), "format", "--check", "--no-cache", "src", "tests", "scripts", "bench"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:] + "\n(see: ruff format .)"


def test_mypy_finds_no_error_beyond_the_baseline():
    """mypy over src/psmarl ([tool.mypy]) against mypy-baseline.txt: a new error fails, and so
    does a fixed one still in the baseline (the baseline only shrinks: after a fix, run
    ``.venv/bin/mypy | .venv/bin/mypy-baseline sync``)."""
    mypy = subprocess.run([tool("mypy")], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert mypy.returncode in (0, 1) and mypy.stdout, (mypy.stdout + mypy.stderr)[-3000:]
    r = subprocess.run(
        [tool("mypy-baseline"), "filter", "--no-colors"],
        input=mypy.stdout,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]


def test_the_reshaped_code_s_recorded_outputs_equal_the_old_ones():
    """docs/data/same_outputs.json (scripts/same_workflow_outputs.py: the tiny workflow at two
    commits, every data file compared) records no difference, and names both commits."""
    import json

    rec = json.loads((REPO / "docs" / "data" / "same_outputs.json").read_text())
    assert rec["before"] and rec["after"] and rec["date"] and rec["machine"]
    assert rec["files"] > 0 and rec["same"] == rec["files"], rec["differing"]
    assert rec["differing"] == [] and rec["only_in_after"] == []
    for commit in (rec["before"], rec["after"]):
        r = subprocess.run(
            ["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"],
            capture_output=True,
        )
        assert r.returncode == 0 or not (REPO / ".git").exists(), f"no commit {commit}"
