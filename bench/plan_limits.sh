#!/bin/bash
# `ablate plan` of study files that describe too much (docs/PERFORMANCE.md "Limits"): writes them into a
# temporary folder and plans each under /usr/bin/time -v, printing exit status, error lines, wall time and
# maximum resident set size. Usage: bench/plan_limits.sh [ABLATE]   (default: build/bin/ablate)
set -u
ablate=$(realpath "${1:-build/bin/ablate}")
dir=$(mktemp -d /tmp/ablate-plan-limits-XXXXXX)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
python3 - <<'PY'
def design(k, study=""):  # k components, each setting train.epochs to its own value
    t = '[study]\nname = "d"\n' + study + '[ablation]\ndesign = "factorial"\ncomponents = [\n'
    for i in range(k):
        t += '  { label = "C%d", set = { "train.epochs" = %d } },\n' % (i, i + 1)
    return t + ']\n'
open('empty.toml', 'w').write('[study]\nname = "e"\n')
open('factorial64.toml', 'w').write(design(64))
open('factorial16.toml', 'w').write(design(16))
open('factorial16_conflicts.toml', 'w').write(design(16, 'max_tasks = 1000000\n'))
v = ', '.join(str(i) for i in range(1, 101)); f = ', '.join(str(i / 100) for i in range(100))
open('grid_1e6_points.toml', 'w').write('[sweep]\n"train.epochs" = [%s]\n"train.steps_per_epoch" = [%s]\n'
                                        '"data.empty_slice_ratio" = [%s]\n' % (v, v, f))
open('sweep_1e6_values.toml', 'w').write('[sweep]\n"train.epochs" = [' + ','.join(['1'] * 1000000) + ']\n')
open('sweep_max_values.toml', 'w').write('[sweep]\n"train.epochs" = [' + ','.join(['1'] * 524000) + ']\n')
open('sweep_distinct.toml', 'w').write('[sweep]\n"train.steps_per_epoch" = [' + ','.join(str(i) for i in range(1, 150000)) + ']\n')
open('sweep_distinct_100k.toml', 'w').write('[sweep]\n"train.steps_per_epoch" = [' + ','.join(str(i) for i in range(1, 100001)) + ']\n')
PY
for f in empty factorial64 factorial16 factorial16_conflicts grid_1e6_points sweep_1e6_values sweep_max_values \
         sweep_distinct sweep_distinct_100k; do
  # An old loader may run away: at most 20 s and 6 GB each.
  ( ulimit -v 6000000; /usr/bin/time -v timeout 20 "$ablate" plan "$f.toml" > /dev/null 2> "$f.err" )
  printf "%-24s exit %s, %7s error lines, %s s, %s MB\n" "$f" "$(grep -oP 'Exit status: \K\d+' "$f.err")" \
    "$(grep -c '^error' "$f.err")" "$(grep -oP 'Elapsed.*: \K.*' "$f.err")" \
    "$(( $(grep -oP 'Maximum resident set size \(kbytes\): \K\d+' "$f.err") / 1024 ))"
done
