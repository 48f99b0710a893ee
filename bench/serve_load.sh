#!/bin/bash
# `ablate serve` under load beside a running study (docs/PERFORMANCE.md "Serve"): the same small study run
# PAIRS times without a server and PAIRS times with `ablate serve` and CLIENTS clients polling it every second
# as the live page does (the study's tasks, and its results when the done count changed; the page's other
# requests cost less; the clients are threads of one Python process), under `mpirun -np 3` (a coordinator and
# two workers).
#
# So that a few percent can be resolved on a small machine:
# - PIN=1 (the default where there are 2 or more CPUs): the study runs on CPU 0 only, the server and the
#   clients on CPU 1 only (taskset; mpirun --bind-to none so that its ranks keep that mask). The clients then
#   do not take the study's CPU (on a cluster they are browsers elsewhere and the server is on the login
#   node), and what is left is what the server does to the study itself: the store's file and its WAL.
#   The script's own waits (sqlite3, curl) run on CPU 1 as well.
# - The two kinds alternate in pairs whose order alternates too (without-with, with-without, ...), so that a
#   drift of the machine's load falls on both alike; each pair gives a paired difference.
# Prints each pair (wall times, difference, the server's and the clients' CPU seconds, requests answered),
# then the median, mean and sd of the paired differences, the medians of the wall times, and the server's
# CPU seconds per minute of study.
# Usage: bench/serve_load.sh [PAIRS] [CLIENTS] [ABLATE]   (defaults: 3, 20, build/bin/ablate)
#        EPOCHS=N (default 15: ~35 s a run on one CPU here), PIN=0 (no pinning)
set -u
pairs=${1:-3}
clients=${2:-20}
ablate=$(realpath "${3:-build/bin/ablate}")
epochs=${EPOCHS:-15}
pin=${PIN:-$([ "$(nproc)" -ge 2 ] && echo 1 || echo 0)}
case "$pairs$clients$epochs" in *[!0-9]*) echo "serve_load.sh: PAIRS, CLIENTS and EPOCHS must be whole numbers" >&2; exit 2 ;; esac
if [ "$pin" = 1 ]; then
  study_cpu=(taskset -c 0)
  serve_cpu=(taskset -c 1)
else
  study_cpu=()
  serve_cpu=()
fi
# The harness itself (its waits for the store and the server, sqlite3 and curl) runs beside the server, so
# that none of it lands on the study's CPU.
[ "$pin" = 1 ] && taskset -cp 1 $$ >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
dir=$(mktemp -d /tmp/ablate-serve-load-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"
"$ablate" data synth --out data --cases 6 --size 32 --slices 6 >/dev/null || exit 1
cat >load.toml <<TOML
[study]
name = "load"
seed = 7
folds = 3
[data]
path = "data"
image_size = 32
[model]
widths = [4, 8, 16]
[train]
epochs = $epochs
steps_per_epoch = 20
batch_size = 2
threads = 1
lr = 0.001
[[ablation.variant]]
name = "unet"
[[ablation.variant]]
name = "cc"
"model.cc" = true
TOML
port=$((18000 + $$ % 1000))

# The clients, in one Python process (a thread each, so that the clients' own cost is their requests, not a
# process per request): every second the tasks; the results when the done count changed (as the page does).
# On SIGTERM it writes the number of answers it got.
clients_py='
import json, signal, sys, threading, time, urllib.request
port, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
answers = [0] * n
def client(k):
    last = None
    while True:
        t = time.time()
        try:
            tasks = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/tasks?study=load" % port))
            answers[k] += 1
            done = tasks["counts"].get("done", 0)
            if done != last:
                urllib.request.urlopen("http://127.0.0.1:%s/study/results?name=load" % port).read()
                answers[k] += 1
                last = done
        except Exception:
            pass
        time.sleep(max(0.0, 1.0 - (time.time() - t)))
def stop(*_):
    open(out, "w").write("%d\n" % sum(answers))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
for k in range(n):
    threading.Thread(target=client, args=(k,), daemon=True).start()
while True:
    time.sleep(60)
'

# CPU seconds (user + system) of a live process, from /proc (clock ticks).
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo nan
}

# Runs the study once from scratch; with $1 = 1 the server and the clients poll it. Prints the wall time, and
# for a run with the server its CPU seconds, the clients' and the number of answers.
run_once() {
  rm -rf load.sqlite* load.work run.log answers
  local t0 t1 job server=0 poller=0 server_cpu=0 clients_cpu=0
  t0=$(date +%s.%N)
  "${study_cpu[@]}" mpirun -np 3 --bind-to none "$ablate" run load.toml --db load.sqlite >run.log 2>&1 &
  job=$!
  pids=("$job")
  if [ "$1" = 1 ]; then
    # The server needs the store: it starts once the coordinator has created it (well under a second).
    until [ -s load.sqlite ] && sqlite3 load.sqlite "SELECT count(*) FROM tasks" 2>/dev/null | grep -q '^[1-9]'; do sleep 0.05; done
    "${serve_cpu[@]}" "$ablate" serve --db load.sqlite --port "$port" >serve.log 2>&1 &
    server=$!
    pids+=("$server")
    until curl -s -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.05; done
    "${serve_cpu[@]}" python3 -c "$clients_py" "$port" "$clients" answers >/dev/null 2>&1 &
    poller=$!
    pids+=("$poller")
  fi
  wait "$job"
  local rc=$?
  t1=$(date +%s.%N)
  if [ "$1" = 1 ]; then
    server_cpu=$(cpu_seconds "$server")
    clients_cpu=$(cpu_seconds "$poller")
  fi
  for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  pids=()
  [ $rc -eq 0 ] || { echo "the study failed (exit $rc):" >&2; tail -5 run.log >&2; exit 1; }
  echo "$(echo "$t1 - $t0" | bc) $server_cpu $clients_cpu $(cat answers 2>/dev/null || echo 0)"
}

echo "serve_load: $pairs pairs, $clients clients, $epochs epochs a task, pinned: $([ "$pin" = 1 ] && echo 'study on CPU 0, server and clients on CPU 1' || echo no)"
without=()
with=()
diffs=()
per_minute=()
for ((i = 1; i <= pairs; i++)); do
  if ((i % 2)); then
    read -r a _ <<<"$(run_once 0)" || exit 1
    read -r b scpu ccpu answers <<<"$(run_once 1)" || exit 1
  else
    read -r b scpu ccpu answers <<<"$(run_once 1)" || exit 1
    read -r a _ <<<"$(run_once 0)" || exit 1
  fi
  [ -n "$a" ] && [ -n "$b" ] || exit 1
  without+=("$a")
  with+=("$b")
  d=$(echo "($b - $a) * 100 / $a" | bc -l)
  diffs+=("$d")
  per_minute+=("$(echo "$scpu * 60 / $b" | bc -l)")
  printf 'pair %d (%s first): without %.2f s, with %.2f s: %+.2f %%; server %.2f CPU s, clients %.2f CPU s, %d answers\n' \
    "$i" "$( ((i % 2)) && echo without || echo with)" "$a" "$b" "$d" "$scpu" "$ccpu" "$answers"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
stats() { printf '%s\n' "$@" | awk '{s+=$1; q+=$1*$1; if (NR==1||$1<lo) lo=$1; if (NR==1||$1>hi) hi=$1} END {m=s/NR; sd=NR>1?sqrt((q-NR*m*m)/(NR-1)):0; printf "mean %+.2f %%, sd %.2f, min %+.2f, max %+.2f", m, sd, lo, hi}'; }
printf 'paired difference (with - without) / without: median %+.2f %%; %s (%d pairs)\n' "$(median "${diffs[@]}")" "$(stats "${diffs[@]}")" "$pairs"
printf 'wall time medians: without %.2f s, with %.2f s\n' "$(median "${without[@]}")" "$(median "${with[@]}")"
printf 'server CPU seconds per minute of study: median %.3f\n' "$(median "${per_minute[@]}")"
