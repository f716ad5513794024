#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment in .venv. Idempotent and quick when
# nothing changed. Needs Python 3.11 and PyPI; no compiler, no swig.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PSMARL_PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(not ((3,11) <= sys.version_info[:2] < (3,13)))'; then PY=$c; break; fi
  done
fi
[ -n "$PY" ] || { echo "setup: Python 3.11 or 3.12 is needed (set PSMARL_PYTHON)" >&2; exit 1; }
stamp=.venv/.psmarl-setup
want=$(cat pyproject.toml envs/constraints.txt | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/psmarl ]; then
  exit 0
fi
echo "setup: installing psmarl and its pinned dependencies into .venv (first time: several minutes)" >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade "pip>=24" >&2
# torch first, exactly pinned: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0" >&2
.venv/bin/python -m pip install --quiet -c envs/constraints.txt -e ".[dev,marl]" >&2
echo "$want" > "$stamp"
