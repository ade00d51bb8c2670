#!/usr/bin/env bash
# One command from a fresh Debian 12 clone to the workbench: installs the dependencies, builds, and opens the
# GUI (mamba-shedder) on the shipped demo model (resources/demo/mamba1) with the demo corpus as calibration data.
# Without a display it runs the CLI on the same model instead: `info` (architecture, parameters, layer tree)
# then `eval` (perplexity on the held-out test split).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SHEDDER_BUILD_DIR:-$root/build}
bash "$root/packaging/install-deps.sh"
bash "$root/scripts/build.sh" -DSHEDDER_BUILD_TESTS=OFF -DSHEDDER_BUILD_BENCHMARKS=OFF
cli="$build/app/cli/shedder-cli"
gui="$build/app/gui/mamba-shedder"
export SHEDDER_RESOURCES_DIR="$root/resources"  # build-tree programs find the demo data here
model="$root/resources/demo/mamba1"
text="$root/resources/demo/corpus/test.jsonl"
if [ ! -f "$model/config.json" ]; then  # a checkout without the demo resources: the build's tiny random model
  model="$build/demo-model"
  text=/usr/share/games/fortunes/fortunes
fi
calib=()
ls "$root"/resources/demo/corpus/calibration.* >/dev/null 2>&1 || calib=(--calib-text /usr/share/games/fortunes/fortunes)

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "== mamba-shedder $model"
  exec "$gui" "$model" "${calib[@]}"
fi
echo "run-demo: no display (DISPLAY/WAYLAND_DISPLAY unset): showing the CLI instead of the GUI"
echo
echo "== shedder-cli info $model"
"$cli" info "$model"
echo
echo "== shedder-cli eval $model --text $text --seq-len 256"
"$cli" eval "$model" --text "$text" --seq-len 256
echo
echo "== shedder-cli accuracy $model --demo-tasks   (built-in tasks from the held-out test split)"
"$cli" accuracy "$model" --demo-tasks
