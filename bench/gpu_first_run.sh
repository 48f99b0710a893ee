#!/bin/sh
# The first run of ablate on GPUs (issue 26), prepared as one script because no GPU was available to the
# project's sessions: nothing below has been run on a GPU yet, and docs/PERFORMANCE.md "GPU" has no figures.
# Run it once on a GPU node and paste what it prints there, with the date, the node and `nvidia-smi`.
#
#   bench/gpu_first_run.sh BUILD_DIR OUT_DIR [GPUS] [LIBTORCH]
#
#   BUILD_DIR  a build of ablate against a CUDA LibTorch (README "On a cluster with GPUs"); with LIBTORCH
#              (an unpacked official LibTorch, >= 2.x for H100/H200: 1.13 has no sm_90 kernels) it is
#              configured and built here first. CUDA_HOST_CXX=/usr/bin/g++-12 passes a host compiler that
#              nvcc accepts (CMAKE_CUDA_HOST_COMPILER).
#   OUT_DIR    emptied; data, stores, logs, reports and summary.txt go there
#   GPUS       GPUs of this node to use (default 1): the demo runs under mpirun with GPUS + 1 ranks
#
# Needs nvidia-smi, mpirun (Open MPI) and the sqlite3 shell on the PATH.
#
# Steps, each printed with its command and wall time; the script stops at the first that fails:
#   1. what the node and LibTorch are (nvidia-smi, `ablate --version`);
#   2. trainer_device_test on the GPU: the device probe passes, the numerics flags are set and reset;
#   3. bench_trainer_step --device cuda: step time and `max memory allocated` (the commands of
#      docs/PERFORMANCE.md "GPU");
#   4. the demo study (examples/table2_demo.toml, 10 variants x 2 folds) on GPU ranks, three times:
#      fp32 with prefetch 2 (the defaults), fp32 with prefetch 0, bf16 with prefetch 2; for each the run's
#      wall time and the mean train_seconds and inference_ms_per_case of its tasks;
#   5. its report: every row must carry the GPU legend (docs/REPORTS.md "Devices"); the worker's device
#      facts from the provenance; how far the prefetch 0 and 2 runs' fold Dice differ (the batches are the
#      same; on a GPU atomics in the backward pass make them differ within rounding, docs/RUNNER.md
#      "Reproducibility").
set -eu
[ $# -ge 2 ] || { sed -n 5,15p "$0" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
build=$1; out=$2; gpus=${3:-1}; libtorch=${4:-}
if [ -n "$libtorch" ]; then
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$libtorch" \
    ${CUDA_HOST_CXX:+-DCMAKE_CUDA_HOST_COMPILER=$CUDA_HOST_CXX}
  cmake --build "$build" -j"$(nproc)" --target ablate ablate_core bench_trainer_step trainer_device_test
fi
build=$(cd "$build" && pwd)
rm -rf "$out"; mkdir -p "$out"; out=$(cd "$out" && pwd)
ablate="$build/bin/ablate"
summary="$out/summary.txt"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 CUBLAS_WORKSPACE_CONFIG=:4096:8
now() { date +%s.%N; }
# step TITLE COMMAND...: runs the command with its output in OUT_DIR/<n>.log, prints and records the title,
# the command and the wall time.
n=0
step() {
  n=$((n + 1)); title=$1; shift
  echo "== $n. $title" | tee -a "$summary"
  echo "   \$ $*" | tee -a "$summary"
  t0=$(now)
  if ! "$@" > "$out/$n.log" 2>&1; then tail -20 "$out/$n.log"; echo "FAILED: see $out/$n.log" | tee -a "$summary"; exit 1; fi
  echo "   $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s wall" | tee -a "$summary"
}
sql() { sqlite3 "$1" "$2"; }

step "node" nvidia-smi --query-gpu=index,name,compute_cap,memory.total,driver_version --format=csv
cat "$out/$n.log" | tee -a "$summary"
step "ablate version" "$ablate" --version
cat "$out/$n.log" | tee -a "$summary"

step "device probe and numerics flags on cuda:0" "$build/tests/trainer_device_test"
grep -E "^\[ +(OK|SKIPPED|FAILED) +\]" "$out/$n.log" | tee -a "$summary"

step "step time and memory, 256x256" "$build/bin/bench_trainer_step" --device cuda --size 256 --batch 4 --steps 5 --warmup 2
cat "$out/$n.log" | tee -a "$summary"
step "step time and memory, 512x512" "$build/bin/bench_trainer_step" --device cuda --size 512 --batch 4 --steps 5 --warmup 2 \
  --variants unet,sc,coa,ec-cam-unet
cat "$out/$n.log" | tee -a "$summary"

step "synthetic data" "$ablate" data synth --out "$out/data" --cases 10 --seed 7
demo() {  # demo NAME --set ...: the demo study on GPU ranks into OUT_DIR/NAME.sqlite
  name=$1; shift
  step "demo on $gpus GPU rank(s): $name" mpirun -np $((gpus + 1)) --oversubscribe -x CUBLAS_WORKSPACE_CONFIG \
    "$ablate" run "$src/examples/table2_demo.toml" --db "$out/$name.sqlite" --workdir "$out/work-$name" \
    --set data.path="$out/data" --set resources.gpus_per_node="$gpus" "$@"
  db="$out/$name.sqlite"
  echo "   tasks done on a GPU: $(sql "$db" "SELECT count(*) FROM tasks WHERE status = 'done' AND device LIKE 'cuda%'") of $(sql "$db" "SELECT count(*) FROM tasks")" | tee -a "$summary"
  echo "   mean train_seconds per task: $(sql "$db" "SELECT round(avg(train_seconds), 2) FROM model_facts")," \
       "mean inference_ms_per_case: $(sql "$db" "SELECT round(avg(inference_ms_per_case), 2) FROM model_facts")" | tee -a "$summary"
}
demo fp32-prefetch2
demo fp32-prefetch0 --set train.prefetch=0
demo bf16-prefetch2 --set train.precision=bf16

step "report of the fp32 run" "$ablate" report --db "$out/fp32-prefetch2.sqlite" --out "$out/report" --format md,csv,html
if grep -q "Every row was trained on a GPU" "$out/report/table.md"; then
  echo "   table.md: GPU legend present" | tee -a "$summary"
else
  echo "   table.md: GPU legend MISSING (docs/REPORTS.md \"Devices\")" | tee -a "$summary"; exit 1
fi
sql "$out/fp32-prefetch2.sqlite" "SELECT key || ' = ' || value FROM provenance WHERE key LIKE 'device.rank%' OR key = 'framework_version'" |
  sed 's/^/   /' | tee -a "$summary"
q="SELECT variant, fold, value FROM fold_metrics WHERE metric = 'dice' AND class = 1 ORDER BY variant, fold"
sql "$out/fp32-prefetch2.sqlite" "$q" > "$out/dice-prefetch2.txt"
sql "$out/fp32-prefetch0.sqlite" "$q" > "$out/dice-prefetch0.txt"
echo "   largest |fold Dice, prefetch 2 - prefetch 0|: $(paste -d'|' "$out/dice-prefetch2.txt" "$out/dice-prefetch0.txt" |
  awk -F'|' '{ d = $3 - $6; if (d < 0) d = -d; if (d > m) m = d } END { printf "%.6f\n", m }')" | tee -a "$summary"
echo "summary: $summary"
