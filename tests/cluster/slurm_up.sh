#!/usr/bin/env bash
# Start a one-node Slurm for the tests (idempotent; root; Debian 12's slurm-wlm and munge).
# The node has this machine's CPUs and two fake GPUs (gres gpu:fake:2 on /dev/null and
# /dev/zero); partitions `cpu` and `gpu` (the names profiles/slurm uses) both hold it. No
# accounting database: finished jobs are written to $DIR/jobcomp.log (jobcomp/filetxt) and
# squeue, not sacct, reports job states. Daemons' files live under $PSMARL_SLURM_DIR.
# Prints `export SLURM_CONF=...` on its last line. Stop with slurm_down.sh.
set -euo pipefail
DIR=${PSMARL_SLURM_DIR:-/var/tmp/psmarl-slurm}
die() { echo "slurm_up.sh: $*" >&2; [ -f "$DIR/slurmctld.log" ] && tail -20 "$DIR/slurmctld.log" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"

need=()
for c in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
  command -v "${c%%:*}" >/dev/null || need+=("${c#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "slurm_up.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  apt-get install -y -qq slurm-wlm munge >&2 || die "apt-get install slurm-wlm munge failed"
fi
# the Debian packages start their own services on install; this script runs its own
for svc in slurmctld slurmd; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

mkdir -p "$DIR"
# munge: a key, and munged running
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --force || die "munged did not start"
  touch "$DIR/munged.ours"  # slurm_down.sh stops it again
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
  munge -n | unmunge >/dev/null || die "munge does not work"
fi

HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 ))
mkdir -p "$DIR/state" "$DIR/spool"
cat > "$DIR/slurm.conf.new" <<CONF
ClusterName=psmarltest
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
MinJobAge=3600
GresTypes=gpu
SlurmdParameters=config_overrides
NodeName=$HOST CPUs=$CPUS RealMemory=$(( MEM > 64000 ? MEM : 64000 )) Gres=gpu:fake:2 State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
CONF
cat > "$DIR/gres.conf.new" <<CONF
NodeName=$HOST Name=gpu Type=fake File=/dev/null
NodeName=$HOST Name=gpu Type=fake File=/dev/zero
CONF
export SLURM_CONF=$DIR/slurm.conf
# job steps (srun inside a job) read the default path, not $SLURM_CONF: link it there unless
# this machine has a Slurm configuration of its own
if [ -e /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" != "$SLURM_CONF" ]; then
  die "/etc/slurm/slurm.conf exists and is not ours: refusing to touch a real Slurm setup"
fi
mkdir -p /etc/slurm && ln -sfn "$SLURM_CONF" /etc/slurm/slurm.conf
running() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }
if ! cmp -s "$DIR/slurm.conf.new" "$DIR/slurm.conf" || ! cmp -s "$DIR/gres.conf.new" "$DIR/gres.conf"; then
  # configuration changed (or first start): restart whatever runs
  for d in slurmd slurmctld; do running "$d" && kill "$(cat "$DIR/$d.pid")" && sleep 1; done
  mv "$DIR/slurm.conf.new" "$DIR/slurm.conf"; mv "$DIR/gres.conf.new" "$DIR/gres.conf"
else
  rm -f "$DIR/slurm.conf.new" "$DIR/gres.conf.new"
fi
running slurmctld || slurmctld -f "$SLURM_CONF" || die "slurmctld did not start"
for _ in $(seq 20); do running slurmctld && break; sleep 0.5; done
running slurmctld || die "slurmctld exited"
running slurmd || slurmd -f "$SLURM_CONF" || die "slurmd did not start"
for _ in $(seq 20); do running slurmd && break; sleep 0.5; done
running slurmd || die "slurmd exited (see $DIR/slurmd.log)"
state=
for _ in $(seq 40); do
  state=$(timeout 5 sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1 || true)
  case "$state" in
    idle*|mixed*|allocated*) break ;;
    down*|drain*) timeout 5 scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.5
done
case "$state" in idle*|mixed*|allocated*) ;; *) die "node $HOST is '$state', not idle" ;; esac
echo "export SLURM_CONF=$SLURM_CONF"
