#!/usr/bin/env bash
# Continue the multiwalker reproduction (config/reproduce.yaml) one run at a time, after the
# random and idle baselines: each run is trained, evaluated (deterministic and sampled
# actions) and kept in docs/reproduction/ (with its final checkpoint) before the next
# starts, in the balanced order seed 0, 1, 2 x shared, independent. Runs kept finished there
# are skipped; runs kept there (finished with their checkpoint, or unfinished) are restored
# first, so a fresh machine goes on where the last one stopped. Stop it at any moment and
# run it again: training resumes from the last checkpoint (every 10 iterations). While a
# run trains, `psmarl keep-runs --checkpoints --root results/reproduce --to
# docs/reproduction` keeps its progress so far.
#   nohup scripts/continue_reproduction.sh >> reproduction.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
PSMARL=.venv/bin/psmarl
CONFIG=config/reproduce.yaml
ROOT=results/reproduce
KEPT=docs/reproduction

if [ -d "$KEPT/unfinished" ] || compgen -G "$KEPT/runs/*/*/*/seed*/checkpoint" >/dev/null; then
  "$PSMARL" keep-runs --restore --root "$ROOT" --to "$KEPT"
fi
# first the baselines the report draws beside the runs (random policy, every walker idle),
# where they are not kept yet: a few minutes
mapfile -t baselines < <("$PSMARL" unkept-targets --kept "$KEPT" --configfile "$CONFIG" |
  grep "^$ROOT/baselines/" || true)
if [ "${#baselines[@]}" -gt 0 ]; then
  echo "== $(date -u +%FT%TZ) baselines"
  ./run.sh "${baselines[@]}" --configfile "$CONFIG"
  "$PSMARL" keep-runs --checkpoints --root "$ROOT" --to "$KEPT"
fi
for seed in 0 1 2; do
  for sharing in shared independent; do
    run=runs/multiwalker/ppo/$sharing/seed$seed
    if [ -f "$KEPT/$run/eval/summary.json" ]; then
      if [ -f "$KEPT/$run/eval_sampled/summary.json" ] || [ ! -d "$KEPT/$run/checkpoint" ]; then
        continue  # kept whole (or kept before checkpoints were: nothing more to measure)
      fi
    fi
    echo "== $(date -u +%FT%TZ) $run"
    ./run.sh "$ROOT/$run/eval/summary.json" "$ROOT/$run/eval_sampled/summary.json" \
      --configfile "$CONFIG"
    "$PSMARL" keep-runs --checkpoints --root "$ROOT" --to "$KEPT"
  done
done
echo "== $(date -u +%FT%TZ) every run is kept in $KEPT; the report:"
echo "   $PSMARL reproduction-report --paper-logs <a copy of the paper's repository>"
