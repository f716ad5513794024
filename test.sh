#!/usr/bin/env bash
# Set up and run the whole test suite: fast tests and the slow (end-to-end) ones.
# Extra arguments go to pytest. A run that collects no test fails.
set -uo pipefail
cd "$(dirname "$0")"
scripts/setup.sh || exit 1
export PATH="$PWD/.venv/bin:$PATH" SDL_VIDEODRIVER=dummy
# Two workers (pytest-xdist): each test file runs whole on one of them, the container and
# Slurm tests together, the longest first (tests/conftest.py); PSMARL_TEST_WORKERS=0 runs
# in this process.
# --durations: the slowest tests, to keep the suite within its time (README, Tests)
.venv/bin/python -m pytest -m "slow or not slow" -n "${PSMARL_TEST_WORKERS:-2}" \
  --dist loadfile --no-loadscope-reorder --durations=30 "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; failing on purpose" >&2
  exit 1
fi
exit "$rc"
