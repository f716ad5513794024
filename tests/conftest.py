import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny.yaml"
BIN = Path(sys.executable).parent
# workflow rules call the `psmarl` console script: make the one beside this Python visible
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture
def tiny_config():
    from psmarl import config as cfg

    return cfg.load(TINY)


@pytest.fixture
def psmarl_bin():
    exe = shutil.which("psmarl", path=str(BIN)) or shutil.which("psmarl")
    assert exe, "psmarl console script not installed (run scripts/setup.sh)"
    return exe


@pytest.fixture
def snakemake_bin():
    exe = shutil.which("snakemake", path=str(BIN)) or shutil.which("snakemake")
    assert exe, "snakemake not installed"
    return exe
