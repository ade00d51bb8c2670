#!/usr/bin/env bash
# The recipe of the shipped demo: builds the corpus from Debian packages (fortunes, bible-kjv), trains a
# byte-level BPE tokenizer on its training split, creates a Mamba-1 and a Mamba-2 from random weights and
# trains them with `shedder-cli tune`, then copies the models and the held-out splits into resources/demo.
# Everything runs through our own code. The shipped models were trained on one GPU (DEVICE=cuda with a CUDA
# build of shedder-cli; see README "Demo models"); DEVICE=cpu works too, only slower.
#
#   bash scripts/make-demo-models.sh [WORK_DIR]      (env: SHEDDER_CLI, DEVICE, STEPS_MAMBA1, STEPS_MAMBA2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$root/build/demo-recipe}
cli=${SHEDDER_CLI:-$root/build/app/cli/shedder-cli}
device=${DEVICE:-auto}
mkdir -p "$work"

need=()
[ -d /usr/share/games/fortunes ] && [ -f /usr/share/games/fortunes/computers ] || need+=(fortunes)
command -v bible >/dev/null || need+=(bible-kjv)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y --no-install-recommends "${need[@]}"
fi

# 1. Corpus: one document per fortune and per Bible chapter, split by document with seed 0.
bible -f "Genesis1:1-Revelation22:21" > "$work/kjv.txt"
"$cli" build-corpus --out "$work/corpus" --fortunes /usr/share/games/fortunes --kjv "$work/kjv.txt" \
  --valid-pct 5 --test-pct 5 --calibration-docs 512 --seed 0 --force

# 2. Tokenizer: byte-level BPE, 4096 tokens, trained on the training split only.
"$cli" train-tokenizer --text "$work/corpus/train.jsonl" --vocab-size 4096 --out "$work/tokenizer.json" --force

# 3. Random initial models (16 blocks, hidden 128; about 2.3-2.4 M parameters each).
"$cli" create-model "$work/mamba1-init" --arch mamba --layers 16 --hidden 128 --state 16 \
  --tokenizer "$work/tokenizer.json" --seed 1 --force
"$cli" create-model "$work/mamba2-init" --arch mamba2 --layers 16 --hidden 128 --state 32 --head-dim 32 \
  --tokenizer "$work/tokenizer.json" --seed 2 --force

# 4. Training from scratch (batch 32 x 256 tokens, AdamW lr 3e-3, warm-up 5%, cosine to 10%).
for arch in mamba1 mamba2; do
  steps_var="STEPS_${arch^^}"
  steps=${!steps_var:-553}
  "$cli" tune "$work/$arch-init" --train-text "$work/corpus/train.jsonl" --valid-text "$work/corpus/valid.jsonl" \
    --steps "$steps" --batch 32 --seq-len 256 --lr 3e-3 --weight-decay 0.1 --eval-every 200 --valid-windows 64 \
    --checkpoint-every 0 --log-every 50 --save-dtype BF16 --seed 0 --device "$device" --out "$work/$arch" --force
done

# 5. Into resources/demo: the models (with their training report) and the held-out splits.
dest="$root/resources/demo"
for arch in mamba1 mamba2; do
  mkdir -p "$dest/$arch"
  cp "$work/$arch/config.json" "$work/$arch/model.safetensors" "$work/$arch/tokenizer.json" "$dest/$arch/"
  cp "$work/$arch/tune_report.json" "$dest/$arch/training_report.json"
done
mkdir -p "$dest/corpus"
cp "$work/corpus/calibration.jsonl" "$work/corpus/valid.jsonl" "$work/corpus/test.jsonl" \
  "$work/corpus/manifest.json" "$dest/corpus/"
echo "demo models and corpus splits written to $dest"
