#!/usr/bin/env bash
# Speed-up of removing blocks vs removing SSMs at equal step counts (the README's table): runs the block and
# the SSM search on MODEL (calibration: the demo corpus's calibration split), then `shedder-cli bench` on the
# cumulative removal of every STEP_LIST step of each, each interleaved with the full model in the same run,
# and prints a Markdown table of the ratios.
#   scripts/speedup-table.sh MODEL [STEP_LIST (default "1 2 4 6")] [THREADS (default 1)]
# Environment: BENCH_ARGS (default "--batch 4 --length 512 --decode-tokens 256 --repeats 11"), SHEDDER_BUILD_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cli=${SHEDDER_BUILD_DIR:-$root/build}/app/cli/shedder-cli
model=$1
steps=${2:-1 2 4 6}
threads=${3:-1}
bench_args=${BENCH_ARGS:---batch 4 --length 512 --decode-tokens 256 --repeats 11}
calib="$root/resources/demo/corpus/calibration.jsonl"
work=$(mktemp -d /tmp/shedder-speedup-XXXXXX)
trap 'rm -rf "$work"' EXIT
max=0
for k in $steps; do [ "$k" -gt "$max" ] && max=$k; done

field() { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p" <<< "$2" | head -1; }

for g in block ssm; do
  "$cli" search "$model" --granularity $g --steps "$max" --calib-text "$calib" --seq-len 256 --windows 32 \
    --threads "$threads" --out "$work/$g" > /dev/null 2>&1
done
echo "model: $model; threads $threads; bench $bench_args"
echo
echo "| steps | blocks: % params | prefill | decode | peak memory | SSMs: % params | prefill | decode | peak memory |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for k in $steps; do
  row="| $k |"
  for g in block ssm; do
    target=$([ $g = block ] && echo mamba_block || echo ssm)
    j=$("$cli" bench "$model" --pruning-config "$work/$g/pruned_model_configs/config.$target.$((k - 1)).json" \
        $bench_args --threads "$threads" --json 2> /dev/null)
    pct=$(awk -v r="$(field params_removed "$j")" -v t="$(field params_total "$j")" 'BEGIN { printf "%.1f%%", 100 * r / t }')
    row="$row $pct | $(printf '%.2fx' "$(field prefill_speedup "$j")") | $(printf '%.2fx' "$(field decode_speedup "$j")") | $(printf '%.2fx' "$(field memory_ratio "$j")") |"
  done
  echo "$row"
done
