#!/usr/bin/env bash
# Stop the daemons slurm_up.sh started (slurmd, slurmctld, and munged if it started it)
# and remove its /etc/slurm/slurm.conf link. Idempotent.
DIR=${PSMARL_SLURM_DIR:-/var/tmp/psmarl-slurm}
for d in slurmd slurmctld; do
  f=$DIR/$d.pid
  if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
    kill "$(cat "$f")"
    for _ in $(seq 50); do   # gone, or a zombie its parent has not reaped yet
      st=$(ps -o stat= -p "$(cat "$f")" 2>/dev/null || true)
      case "$st" in ""|Z*) break ;; esac
      sleep 0.2
    done
  fi
  rm -f "$f"
done
[ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$DIR/slurm.conf" ] && rm -f /etc/slurm/slurm.conf
# munged too, if slurm_up.sh started it (one that ran before stays)
if [ -f "$DIR/munged.ours" ]; then
  pid=$(cat /run/munge/munged.pid 2>/dev/null || true)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  rm -f "$DIR/munged.ours"
fi
exit 0
