# What scripts/slurm-local (one node) and scripts/slurm-cluster (several nodes in namespaces) share:
# sourced by both, never run. The caller sets DIR (the instance's folder, absolute), CONF
# ("$DIR/slurm.conf") and NAME (the script's name for messages) before sourcing it.
#
# Exit codes of the scripts that use it: 1 failed (the reason on stderr), 4 Slurm cannot run here
# (missing package, not root, no namespaces), which the tests report as a skip.

unavailable() { echo "$NAME: unavailable: $*" >&2; exit 4; }
fail() { echo "$NAME: $*" >&2; exit 1; }

# Slurm's daemons and clients installed, and root (the daemons need it), or exit 4.
require_slurm() {
  local cmd
  for cmd in munged mungekey slurmctld slurmd sinfo sbatch srun scontrol scancel squeue; do
    command -v "$cmd" >/dev/null 2>&1 || unavailable "$cmd is not installed (scripts/setup installs slurm-wlm and munge)"
  done
  [ "$(id -u)" -eq 0 ] || unavailable "Slurm's daemons need root (this is uid $(id -u))"
}

pid_of() {  # the live pid recorded in "$DIR/$1.pid", or nothing (status 1)
  local f="$DIR/$1.pid" pid
  [ -f "$f" ] || return 1
  pid=$(tr -dc '0-9' <"$f")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

descendants() {  # pid $1 and all its descendants, parents first
  local pid=$1 child
  echo "$pid"
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do descendants "$child"; done
}

stepds() {  # the slurmstepd processes of this instance (they carry its slurm.conf in SLURM_CONF)
  local p
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = slurmstepd ] || continue
    tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$CONF" && echo "${p#/proc/}"
  done
}

# Jobs first, so that no job step outlives the daemons: cancel them and give their steps Slurm's
# KillWait to end; steps still there after that are killed with every process under them.
stop_jobs() {
  local pid d i
  if pid_of slurmctld >/dev/null && pid_of munged >/dev/null; then
    SLURM_CONF="$CONF" scancel --full --quiet $(SLURM_CONF="$CONF" squeue -h -o %A 2>/dev/null) 2>/dev/null
    for ((i = 0; i < 150; i++)); do [ -z "$(stepds)" ] && break; sleep 0.1; done
  fi
  for pid in $(stepds); do
    for d in $(descendants "$pid"); do kill -KILL "$d" 2>/dev/null; done
  done
}

stop_daemon() {  # TERM the daemon whose pid file is "$DIR/$1.pid", KILL it after 10 s; remove the file
  local pid i
  pid=$(pid_of "$1") || { rm -f "$DIR/$1.pid"; return 0; }
  [ "$pid" = "$$" ] && { rm -f "$DIR/$1.pid"; return 0; }   # a watcher runs the stop itself
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  rm -f "$DIR/$1.pid"
}

free_port() {  # a TCP port nothing listens on (on this host's loopback)
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

node_resources() {  # "CPUS MEM": this machine's CPUs and memory in MB as slurmd sees them
  local conf_line cpus mem
  conf_line=$(slurmd -C 2>/dev/null | head -1) || true
  cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$conf_line")
  mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$conf_line")
  [ -n "$cpus" ] || cpus=$(nproc)
  [ "$cpus" -le "$(nproc)" ] || cpus=$(nproc)
  [ -n "$mem" ] || mem=$(($(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) / 1024))
  echo "$cpus $mem"
}

# A fresh munge key and munged on a socket in "$DIR/munge" (every daemon and client of the instance
# reaches it by that path, from any network namespace).
start_munged() {
  mkdir -p "$DIR/munge" || fail "cannot create $DIR/munge"
  chmod 700 "$DIR/munge"
  rm -f "$DIR/munge/munge.key"
  mungekey --create --keyfile="$DIR/munge/munge.key" >/dev/null 2>&1 \
    || dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none || fail "cannot write a munge key"
  chmod 400 "$DIR/munge/munge.key"
  munged --force --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" --seed-file="$DIR/munge/munged.seed" \
    >"$DIR/munged.out" 2>&1 || { cat "$DIR/munged.out" >&2; return 1; }
}

# The part of slurm.conf that does not depend on the nodes. $1: cluster name, $2: controller host,
# $3: its address, $4: controller port, $5: slurmd port, $6: slurmd pid/log file stem (may hold %n).
write_common_conf() {
  cat >"$CONF" <<EOF
# Written by scripts/$NAME: a Slurm for tests, in $DIR.
ClusterName=$1
SlurmctldHost=$2($3)
SlurmctldPort=$4
SlurmdPort=$5
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket,cred_expire=10
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/$6.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/$6.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
# cred_expire (above) is also how long a requeued job waits before it starts again (120 s by default),
# and the scheduler looks at pending jobs every 2 s (60 s by default); steps get 10 s to stop cleanly
# after SIGTERM; finished jobs stay visible to scontrol for 5 minutes.
SchedulerParameters=sched_interval=2,bf_interval=2
KillWait=10
MinJobAge=300
InactiveLimit=0
EOF
}

start_slurmctld() {
  mkdir -p "$DIR/state" "$DIR/spool" || fail "cannot create $DIR/state"
  SLURM_CONF="$CONF" slurmctld -f "$CONF" -i >"$DIR/slurmctld.out" 2>&1 || { cat "$DIR/slurmctld.out" >&2; return 1; }
}

# Waits up to 30 s until `sinfo` shows every node of the list $1 (comma-separated) idle; prints the
# states last seen and returns 1 otherwise.
wait_idle() {
  local want=$1 count states i
  count=$(tr ',' '\n' <<<"$want" | grep -c .)
  for ((i = 0; i < 300; i++)); do
    states=$(SLURM_CONF="$CONF" sinfo -h -N -n "$want" -o '%N %t' 2>/dev/null | sort -u)
    [ "$(grep -c ' idle$' <<<"$states")" -eq "$count" ] && return 0
    sleep 0.1
  done
  echo "${states:-no answer from sinfo}"
  return 1
}

# With a pid, a watcher that runs "$self stop $DIR" as soon as that process is gone (a test that
# crashed or timed out leaves nothing running). It is a new session of its own, so it survives the
# caller's process group; its pid is recorded in "$DIR/watcher.pid" and stop ends it first.
start_watcher() {
  local watch=$1 self
  self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
  setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" stop "$3"' watcher "$watch" "$self" "$DIR" \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$DIR/watcher.pid"
}
