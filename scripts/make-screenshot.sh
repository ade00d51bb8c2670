#!/usr/bin/env bash
# Reproducible screenshot of the workbench for the README: opens MODEL in mamba-shedder under a real X server
# (Xvfb, not Qt's offscreen platform), runs a 4-step block search with the held-out curve, evaluates the result
# (what-if panel), and saves the window as a PNG.
#   [SHEDDER_SCREENSHOT_SIZE=WxH] bash scripts/make-screenshot.sh [MODEL_DIR] [OUT_PNG]
# MODEL_DIR defaults to the demo model (resources/demo/mamba1), else the trained tiny test model. Calibration is
# the built-in demo set (its validation split for the held-out curve) when installed, else two halves of the
# Debian `fortunes` file. OUT_PNG defaults to resources/screenshots/main-window.png; the window is 1600x1000 unless
# SHEDDER_SCREENSHOT_SIZE says otherwise (the README also shows 1024x700, a small laptop screen).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SHEDDER_BUILD_DIR:-$root/build}
res=${SHEDDER_RESOURCES_DIR:-$root/resources}
model=${1:-}
out=${2:-$root/resources/screenshots/main-window.png}
if [ -z "$model" ]; then
  if [ -f "$res/demo/mamba1/config.json" ]; then model=$res/demo/mamba1; else model=$root/tests/data/trained_tiny/mamba1; fi
fi
[ -f "$model/config.json" ] || { echo "make-screenshot: $model is not a model folder" >&2; exit 2; }

SHEDDER_WITH_SCREENSHOT_DEPS=1 bash "$root/packaging/install-deps.sh"
if [ ! -x "$build/app/gui/mamba-shedder" ]; then
  bash "$root/scripts/build.sh"
else
  cmake --build "$build" --target mamba-shedder --parallel "${SHEDDER_JOBS:-$(nproc)}"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
calib=()
if ! ls "$res"/demo/corpus/calibration.* >/dev/null 2>&1; then
  text=/usr/share/games/fortunes/fortunes
  n=$(wc -l < "$text")
  head -n $((n * 6 / 10)) "$text" > "$work/calibration.txt"
  tail -n +$((n * 6 / 10 + 1)) "$text" > "$work/heldout.txt"
  calib=(--calib-text "$work/calibration.txt" --heldout-text "$work/heldout.txt")
fi
mkdir -p "$(dirname "$out")"
# A fixed look: no user settings, 96 dpi, the Fusion style.
export XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data QT_QPA_PLATFORM=xcb QT_STYLE_OVERRIDE=Fusion
size=${SHEDDER_SCREENSHOT_SIZE:-1600x1000}
[[ $size =~ ^([0-9]+)x([0-9]+)$ ]] || { echo "make-screenshot: SHEDDER_SCREENSHOT_SIZE=$size is not WxH" >&2; exit 2; }
screen="$((BASH_REMATCH[1] + 80))x$((BASH_REMATCH[2] + 50))x24"
SHEDDER_RESOURCES_DIR=$res xvfb-run -a -s "-screen 0 $screen -dpi 96" \
  "$build/app/gui/mamba-shedder" "$model" --search-steps 4 --granularity block --seq-len 256 --windows 16 \
  "${calib[@]}" --then-evaluate --runs-dir "$work/runs" --size "$size" --screenshot "$out"
echo "make-screenshot: wrote $out"
