#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time: FUZZER CORPUS_DIR SEED_DIR SECONDS.
# The corpus starts from the committed seeds (plus the shared fixtures when present). Exit != 0 on a finding.
set -euo pipefail
fuzzer=$1 corpus=$2 seeds=$3 seconds=$4
mkdir -p "$corpus"
[ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
if [ -n "${SHEDDER_FIXTURES_DIR:-}" ] && [ -d "$SHEDDER_FIXTURES_DIR" ]; then
  case "$(basename "$fuzzer")" in
    fuzz_tokenizer_json) cp -n "$SHEDDER_FIXTURES_DIR"/tokenizer/tokenizer.json "$corpus"/fixture_tokenizer.json 2>/dev/null || true ;;
    fuzz_safetensors_header) head -c 4096 "$SHEDDER_FIXTURES_DIR"/hf-tiny/mamba2-tiny/model.safetensors > "$corpus"/fixture_head 2>/dev/null || true ;;
  esac
fi
cd "$(dirname "$corpus")"
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 "$corpus"
