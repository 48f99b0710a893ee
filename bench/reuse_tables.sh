#!/bin/sh
# Never train the same thing twice, measured (docs/PERFORMANCE.md "Reusing finished trainings"): 001's
# Tables II-V at demo scale (examples/table{2,3,4,5}_demo.toml, 22 rows x FOLDS folds) into one store, where
# the 6 rows they share with Table II are reused, and into four separate stores with --no-reuse, where all
# 22 train. Prints the trainings and wall time of each, and checks that the report tables of the shared
# rows are equal. Shortened training (EPOCHS epochs of STEPS steps, both sides alike) keeps it to minutes.
#   bench/reuse_tables.sh BUILD_DIR OUT_DIR [EPOCHS] [STEPS] [WORKERS]
set -eu
build=$(cd "$1" && pwd); out=$2; epochs=${3:-2}; steps=${4:-5}; workers=${5:-2}
src=$(cd "$(dirname "$0")/.." && pwd)
ablate="$build/bin/ablate"
rm -rf "$out"; mkdir -p "$out"; out=$(cd "$out" && pwd)
"$ablate" data synth --out "$out/data" --cases 10 --seed 7 > /dev/null
set_args="--set data.path=$out/data --set train.epochs=$epochs --set train.steps_per_epoch=$steps"
now() { date +%s.%N; }
# Warm-up, not timed: the first run preprocesses every case into the dataset's cache (.ablate-cache).
"$ablate" run "$src/examples/table2_demo.toml" $set_args --set train.steps_per_epoch=1 --db "$out/warmup.sqlite" \
  --workdir "$out/work-warmup" --workers "$workers" > "$out/run-warmup.log" 2>&1
trained() {  # tasks of a store trained there (not copied)
  sqlite3 "$1" "SELECT count(*) FROM tasks WHERE status = 'done' AND reused_from IS NULL"
}
for mode in reuse separate; do
  t0=$(now)
  for t in 2 3 4 5; do
    if [ $mode = reuse ]; then db="$out/tables.sqlite"; extra=""; else db="$out/table$t.sqlite"; extra="--no-reuse"; fi
    [ $mode = reuse ] && "$ablate" plan "$src/examples/table${t}_demo.toml" $set_args --db "$db" | grep '^trainings:' | sed "s/^/  table $t: /" || true
    "$ablate" run "$src/examples/table${t}_demo.toml" $set_args --db "$db" --workdir "$out/work-$mode" --workers "$workers" $extra \
      > "$out/run-$mode-$t.log" 2>&1
  done
  t1=$(now)
  if [ $mode = reuse ]; then n=$(trained "$out/tables.sqlite"); else
    n=0; for t in 2 3 4 5; do n=$((n + $(trained "$out/table$t.sqlite"))); done; fi
  echo "$mode: $n trainings, $(echo "$t1 - $t0" | bc) s"
done
# The shared rows' results: equal in the shared store and in the separate ones.
for t in 2 3 4 5; do
  name="table$t-demo"
  q="SELECT variant, fold, metric, class, quote(value) FROM fold_metrics WHERE study = '$name' ORDER BY 1, 2, 3, 4"
  c="SELECT variant, fold, case_id, metric, quote(value) FROM case_metrics WHERE study = '$name' ORDER BY 1, 2, 3, 4"
  if [ "$(sqlite3 "$out/tables.sqlite" "$q"; sqlite3 "$out/tables.sqlite" "$c")" = "$(sqlite3 "$out/table$t.sqlite" "$q"; sqlite3 "$out/table$t.sqlite" "$c")" ]; then
    echo "table $t: fold and case metrics equal in both layouts"
  else
    echo "table $t: results DIFFER"; exit 1
  fi
done
