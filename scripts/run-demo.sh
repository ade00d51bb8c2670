#!/usr/bin/env bash
# One command from a fresh Debian 12 clone to a result: installs the build dependencies, builds, and runs
# the CLI on the shipped demo model (resources/demo/mamba1) with its held-out test split: `info`
# (architecture, parameters, layer tree) then `eval` (perplexity).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SHEDDER_BUILD_DIR:-$root/build}
bash "$root/packaging/install-deps.sh"
bash "$root/scripts/build.sh" -DSHEDDER_BUILD_TESTS=OFF -DSHEDDER_BUILD_BENCHMARKS=OFF
cli="$build/app/cli/shedder-cli"
export SHEDDER_RESOURCES_DIR="$root/resources"  # build-tree programs find the demo data here
model="$root/resources/demo/mamba1"
text="$root/resources/demo/corpus/test.jsonl"
echo
echo "== shedder-cli info $model"
"$cli" info "$model"
echo
echo "== shedder-cli eval $model --text $text --seq-len 256"
"$cli" eval "$model" --text "$text" --seq-len 256
echo
echo "== shedder-cli accuracy $model --demo-tasks   (built-in tasks from the held-out test split)"
"$cli" accuracy "$model" --demo-tasks
