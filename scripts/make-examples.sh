#!/usr/bin/env bash
# docs/examples/: what the reports-and-deployment commands make from the shipped demo model (resources/demo/mamba1),
# by the commands the README shows — two searches (blocks, SSMs; accuracy on the demo tasks after every step), an
# lm-evaluation-harness results file of the base model, the export after the block search's last step with its model
# card and recipe (weights left out of git), the same as a GGUF for llama.cpp, the report comparing the two searches
# and the harness file, and the README's screenshots of the comparison window (curves and heatmap, under Xvfb).
#   bash scripts/make-examples.sh      (about 6 minutes on 2 cores; needs a build: scripts/build.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SHEDDER_BUILD_DIR:-$root/build}
cli="$build/app/cli/shedder-cli"
gui="$build/app/gui/mamba-shedder"
[ -x "$cli" ] && [ -x "$gui" ] || { echo "make-examples: build first (bash scripts/build.sh)" >&2; exit 2; }
export SHEDDER_RESOURCES_DIR="$root/resources"
cd "$root"
m=resources/demo/mamba1 corpus=resources/demo/corpus ex=docs/examples
rm -rf "$ex/runs" "$ex/harness" "$ex/pruned-demo" "$ex/gguf" "$ex/report"
mkdir -p "$ex/gguf"

# The two searches the comparison shows (README: "Compare and report"); --exhaustive: every candidate scored in full,
# so that the heatmaps hold no lower bounds.
for g in block ssm; do
  "$cli" search $m --granularity $g --steps 6 --calib-text $corpus/calibration.jsonl --seq-len 256 \
      --eval-demo-tasks --exhaustive --out $ex/runs/${g}s --threads 2
done
# Harness-layout accuracy of the base model, with the per-item records.
"$cli" accuracy $m --demo-tasks --output-path $ex/harness --log-samples
# The pruned checkpoint after the block search's last step: model card, recipe, report (weights not committed).
"$cli" export $m --journal $ex/runs/blocks/journal.jsonl --step 5 --eval-text $corpus/test.jsonl --seq-len 256 \
    --out $ex/pruned-demo
rm -f $ex/pruned-demo/model.safetensors $ex/pruned-demo/tokenizer.json
# The same removal set as a GGUF file for llama.cpp.
"$cli" export $m --journal $ex/runs/blocks/journal.jsonl --step 5 --format gguf --gguf-type f16 \
    --out $ex/gguf/demo-mamba1-pruned-f16.gguf
# The report: both runs and the harness file.
"$cli" report $ex/runs/blocks $ex/runs/ssms $ex/harness/results_*.json --out $ex/report --format png,pdf

rm -f $ex/runs/*/journal.jsonl.weights-hash-cache.json  # a cache of the weights' hash, not part of the result

# Screenshots of the comparison window (a real X server, a fixed look).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data QT_QPA_PLATFORM=xcb QT_STYLE_OVERRIDE=Fusion
for tab in Perplexity Heatmap; do
  shot=resources/screenshots/comparison-$(echo $tab | tr A-Z a-z).png
  xvfb-run -a -s "-screen 0 1380x900x24 -dpi 96" "$gui" --compare $ex/runs/blocks --compare $ex/runs/ssms \
      --compare $ex/harness/results_*.json --compare-tab $tab --size 1300x820 --screenshot $shot
done
echo "make-examples: wrote $ex and resources/screenshots/comparison-*.png"
