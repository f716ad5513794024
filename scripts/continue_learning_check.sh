#!/usr/bin/env bash
# Continue the learning check (config/learning_check.yaml over config/paper.yaml) one run at
# a time (after each env's random and idle baselines): each run is trained, evaluated (with
# sampled actions too where the config asks) and
# kept in docs/reproduction/learning_check/ (its small files: the checkpoints are too big for
# git) before the next starts, and the table docs/reproduction/learning_check.md is built
# again. Runs kept there are skipped (psmarl unkept-targets), so a fresh machine goes on
# where the last one stopped; a sitting that ends loses at most the run in progress, and on
# the same machine not even that (training resumes from its last checkpoint).
#   nohup scripts/continue_learning_check.sh >> learning_check.log 2>&1 &
# Then commit docs/reproduction/learning_check* (and add dated notes to
# docs/reproduction/learning_check/notes.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
PSMARL=.venv/bin/psmarl
CONFIGS=(config/paper.yaml config/learning_check.yaml)
ROOT=results/learning_check
KEPT=docs/reproduction/learning_check

while true; do
  mapfile -t targets < <("$PSMARL" unkept-targets --kept "$KEPT" --configfile "${CONFIGS[@]}")
  if [ "${#targets[@]}" -eq 0 ]; then
    break
  fi
  # <ROOT>/runs/<env>/<method>/<sharing>/seed<n>, or first <ROOT>/baselines/<random|idle>
  run=${targets[0]%/*/summary.json}
  own=()
  for t in "${targets[@]}"; do
    if [[ $t == "$run"/* ]]; then own+=("$t"); fi
  done
  echo "== $(date -u +%FT%TZ) $run"
  ./run.sh "${own[@]}" --configfile "${CONFIGS[@]}"
  "$PSMARL" keep-runs --finished-only --root "$ROOT" --to "$KEPT"
  left=$("$PSMARL" unkept-targets --kept "$KEPT" --configfile "${CONFIGS[@]}")
  if grep -q "^$run/" <<<"$left"; then
    echo "$run: trained and evaluated, but not kept in $KEPT: stopping" >&2
    exit 1
  fi
  "$PSMARL" learning-check
done
echo "== $(date -u +%FT%TZ) every run of the check is kept in $KEPT"
"$PSMARL" learning-check
