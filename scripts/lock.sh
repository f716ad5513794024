#!/usr/bin/env bash
# Regenerate the per-stage lock files envs/{rl,marl,analysis}.txt from pyproject.toml
# (hashed, fully pinned; CPython 3.11, x86_64 Linux). Needs uv (the `cluster` extra) and PyPI.
#   scripts/lock.sh                 # keep current pins where they still satisfy pyproject
#   scripts/lock.sh --upgrade       # re-resolve everything to the newest allowed versions
#   scripts/lock.sh analysis        # one stage
# tests/test_locks.py fails when pyproject.toml changed and this was not rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PSMARL_PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
exec "$PY" scripts/lock.py "$@"
