#!/usr/bin/env bash
# Stop the Slurm daemons slurm_up.sh started (slurmd, slurmctld) and remove its
# /etc/slurm/slurm.conf link. munged stays (harmless, and other software may use it).
# Idempotent.
DIR=${PSMARL_SLURM_DIR:-/var/tmp/psmarl-slurm}
for d in slurmd slurmctld; do
  f=$DIR/$d.pid
  if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
    kill "$(cat "$f")"
    for _ in $(seq 50); do kill -0 "$(cat "$f")" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$f"
done
[ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$DIR/slurm.conf" ] && rm -f /etc/slurm/slurm.conf
exit 0
