#!/usr/bin/env bash
# docs/examples/width/: the README's width-pruning figure. On each demo model, four greedy perplexity searches on the
# built-in calibration set:
# - blocks;
# - SSMs;
# - Mamba-2 SSM heads or Mamba-1 inner channel groups;
# - state chunks.
# Each runs until 10 % of the parameters are gone, or until it has no candidate left (a state keeps one chunk per
# layer, so the state searches end earlier). shedder-cli report then draws the calibration perplexity of the four
# against the parameters kept.
#   bash scripts/make-width-figure.sh [--device cuda] [--searches-only | --report-only]
# The searches take about an hour on 2 CPU cores and a few minutes on a GPU (the CUDA build: --device cuda
# --searches-only there, then --report-only with this machine's build, which has the report command).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SHEDDER_BUILD_DIR:-$root/build}
cli="$build/app/cli/shedder-cli"
device=cpu searches=1 report=1
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --searches-only) report=0; shift ;;
    --report-only) searches=0; shift ;;
    *) echo "make-width-figure: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$cli" ] || { echo "make-width-figure: build first (bash scripts/build.sh)" >&2; exit 2; }
export SHEDDER_RESOURCES_DIR="$root/resources"
cd "$root"
corpus=resources/demo/corpus ex=docs/examples/width
for arch in mamba2 mamba1; do
  m=resources/demo/$arch
  width=ssm-head
  [ $arch = mamba1 ] && width=mixer-channel
  if [ $searches = 1 ]; then
    for g in block ssm $width state; do
      rm -rf "$ex/runs/$arch-$g"
      "$cli" search $m --granularity $g --target-params-pct 10 --steps 1000 --calib-text $corpus/calibration.jsonl \
          --seq-len 256 --batch 8 --device "$device" --dtype float32 --out "$ex/runs/$arch-$g"
      # a cache of the weights' hash, and one pruning config per step (up to 112 here): not part of the result
      rm -rf "$ex/runs/$arch-$g/journal.jsonl.weights-hash-cache.json" "$ex/runs/$arch-$g/pruned_model_configs"
    done
  fi
  if [ $report = 1 ]; then
    rm -rf "$ex/report-$arch"
    "$cli" report "$ex/runs/$arch-block" "$ex/runs/$arch-ssm" "$ex/runs/$arch-$width" "$ex/runs/$arch-state" \
        --out "$ex/report-$arch" --format png --tables md,csv
  fi
done
