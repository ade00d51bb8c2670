#!/usr/bin/env bash
# One command from a fresh Debian 12 clone to a result: installs the build dependencies, builds, and runs
# the CLI on the demo model (a tiny random-weight Mamba created by the build) with text from the Debian
# `fortunes` package: `info` (architecture, parameters, layer tree) then `eval` (perplexity).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SHEDDER_BUILD_DIR:-$root/build}
bash "$root/packaging/install-deps.sh"
bash "$root/scripts/build.sh" -DSHEDDER_BUILD_TESTS=OFF -DSHEDDER_BUILD_BENCHMARKS=OFF
cli="$build/app/cli/shedder-cli"
model="$build/demo-model"
text=/usr/share/games/fortunes/fortunes
echo
echo "== shedder-cli info $model"
"$cli" info "$model"
echo
echo "== shedder-cli eval $model --text $text --seq-len 256 --max-windows 16"
"$cli" eval "$model" --text "$text" --seq-len 256 --max-windows 16
