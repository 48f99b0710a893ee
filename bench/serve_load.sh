#!/bin/bash
# `ablate serve` under load beside a running study (docs/PERFORMANCE.md "Serve"): the same small study
# run PAIRS times without a server and PAIRS times with `ablate serve` and CLIENTS clients polling it every
# second as the live page does (the study's tasks, and its results when they change; the page's other
# requests cost less; the clients are threads of one Python process on the same machine), interleaved (without, with, without, ...), under `mpirun -np 3` (a coordinator and two
# workers on the machine's cores). Prints each run's wall time and the medians. A smaller study than the
# demo (2 variants x 3 folds, widths 4..16, 30 epochs of 20 steps: ~30 s a run here) so that several pairs fit.
# Usage: bench/serve_load.sh [PAIRS] [CLIENTS] [ABLATE]   (defaults: 3, 20, build/bin/ablate)
set -u
pairs=${1:-3}
clients=${2:-20}
ablate=$(realpath "${3:-build/bin/ablate}")
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
cat >load.toml <<'TOML'
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
epochs = 30
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

# The clients, in one Python process (a thread each, so that the clients' own cost on this machine is
# their requests, not a process per request): every second the tasks; the results when the done count
# changed (as the page does).
clients_py='
import json, sys, threading, time, urllib.request
port, n = sys.argv[1], int(sys.argv[2])
def client():
    last = None
    while True:
        t = time.time()
        try:
            tasks = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/tasks?study=load" % port))
            done = tasks["counts"].get("done", 0)
            if done != last:
                urllib.request.urlopen("http://127.0.0.1:%s/study/results?name=load" % port).read()
                last = done
        except Exception:
            pass
        time.sleep(max(0.0, 1.0 - (time.time() - t)))
for _ in range(n):
    threading.Thread(target=client, daemon=True).start()
while True:
    time.sleep(60)
'

# Runs the study once from scratch; with $1 = 1 the server and the clients poll it. Prints the wall time.
run_once() {
  rm -rf load.sqlite* load.work run.log
  local t0 t1 job
  t0=$(date +%s.%N)
  mpirun -np 3 --oversubscribe "$ablate" run load.toml --db load.sqlite >run.log 2>&1 &
  job=$!
  pids=("$job")
  if [ "$1" = 1 ]; then
    # The server needs the store: it starts once the coordinator has created it (well under a second).
    until [ -s load.sqlite ] && sqlite3 load.sqlite "SELECT count(*) FROM tasks" 2>/dev/null | grep -q '^[1-9]'; do sleep 0.05; done
    "$ablate" serve --db load.sqlite --port "$port" >serve.log 2>&1 &
    pids+=($!)
    until curl -s -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.05; done
    python3 -c "$clients_py" "$port" "$clients" >/dev/null 2>&1 &
    pids+=($!)
  fi
  wait "$job"
  local rc=$?
  t1=$(date +%s.%N)
  for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  pids=()
  [ $rc -eq 0 ] || { echo "the study failed (exit $rc):" >&2; tail -5 run.log >&2; exit 1; }
  echo "$t1 - $t0" | bc
}

without=()
with=()
for ((i = 1; i <= pairs; i++)); do
  a=$(run_once 0) || exit 1
  b=$(run_once 1) || exit 1
  without+=("$a")
  with+=("$b")
  printf 'pair %d: without server %.2f s, with server and %d clients %.2f s\n' "$i" "$a" "$clients" "$b"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
mw=$(median "${without[@]}")
ms=$(median "${with[@]}")
printf 'median: without %.2f s, with %.2f s: %+.1f %%\n' "$mw" "$ms" "$(echo "($ms - $mw) * 100 / $mw" | bc -l)"
