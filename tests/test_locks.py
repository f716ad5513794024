"""envs/<stage>.txt are in sync with pyproject.toml and envs/constraints.txt (fast, offline)."""

import re
import shutil

from conftest import REPO

from psmarl import locks


def test_lock_files_are_in_sync_with_pyproject():
    problems = locks.check(REPO / "envs", REPO / "pyproject.toml")
    assert not problems, "\n".join(problems)


def test_every_stage_pins_torch_exactly_where_it_needs_it():
    pins = {s: locks.read_lock(REPO / "envs" / f"{s}.txt")[1] for s in locks.STAGES}
    assert pins["rl"]["torch"] == "2.13.0" and pins["marl"]["torch"] == "2.13.0"
    assert "nvidia-cuda-runtime" in pins["rl"]  # PyPI's Linux torch: the CUDA build
    assert "torch" not in pins["analysis"] and "ray" not in pins["analysis"]
    assert pins["marl"]["benchmarl"] == "1.5.2"


def _copy(tmp_path):
    shutil.copytree(REPO / "envs", tmp_path / "envs")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path / "envs", tmp_path / "pyproject.toml"


def test_a_changed_dependency_is_caught(tmp_path):
    envs, pyproject = _copy(tmp_path)
    pyproject.write_text(pyproject.read_text().replace('"seaborn==0.13.2"', '"seaborn==0.13.1"'))
    problems = locks.check(envs, pyproject)
    joined = "\n".join(problems)
    assert "analysis.txt" in joined and "seaborn==0.13.2 violates seaborn==0.13.1" in joined
    assert "run scripts/lock.sh" in joined


def test_a_changed_constraint_or_a_missing_hash_is_caught(tmp_path):
    envs, pyproject = _copy(tmp_path)
    (envs / "constraints.txt").write_text((envs / "constraints.txt").read_text() + "extra==1\n")
    text = (envs / "analysis.txt").read_text()
    # drop the hashes of one requirement
    text = re.sub(r"(seaborn==0\.13\.2) \\\n(\s+--hash=sha256:\w+( \\)?\n)+", r"\1\n", text)
    (envs / "analysis.txt").write_text(text)
    problems = locks.check(envs, pyproject)
    assert any("rl.txt" in p and "other inputs" in p for p in problems), problems
    assert any("analysis.txt" in p and "without --hash: seaborn" in p for p in problems), problems


def test_a_missing_lock_file_is_caught(tmp_path):
    envs, pyproject = _copy(tmp_path)
    (envs / "marl.txt").unlink()
    assert any("marl.txt: missing" in p for p in locks.check(envs, pyproject))
