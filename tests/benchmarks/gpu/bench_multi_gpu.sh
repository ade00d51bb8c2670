#!/usr/bin/env bash
# Candidate-parallel search on the GPUs of one host against one GPU, in one run: a mamba-1.4b-shape Mamba-1
# with random bfloat16 weights (written by transformers), 16 windows x 1024 random tokens, 2 search steps.
# Prints both runs' step times, the speed-up and whether both took the same removals with the same
# candidate perplexities. Usage: bench_multi_gpu.sh SHEDDER_CLI [NPROC] [WORKDIR]
set -euo pipefail
cli="$1"; nproc="${2:-$(nvidia-smi -L | wc -l)}"; work="${3:-$(mktemp -d)}"
mkdir -p "$work"
python3 - "$work" <<'PY'
import sys, torch, transformers
from safetensors.torch import save_file
work = sys.argv[1]
cfg = transformers.MambaConfig(hidden_size=2048, num_hidden_layers=48, state_size=16, expand=2, vocab_size=50280)
torch.manual_seed(0)
with torch.device("cuda"):
    m = transformers.MambaForCausalLM(cfg).to(torch.bfloat16)
m.save_pretrained(work + "/model", safe_serialization=True)
g = torch.Generator().manual_seed(3)
save_file({"windows": torch.randint(0, 50280, (16, 1024), generator=g)}, work + "/windows.safetensors")
PY
args=(search "$work/model" --calib-tokens "$work/windows.safetensors" --seq-len 1024 --windows 16 --batch 8
      --steps 2 --device cuda --json)
"$cli" "${args[@]}" > "$work/one.json" 2> "$work/one.err" || { cat "$work/one.err"; exit 1; }
"$cli" launch --nproc "$nproc" -- "${args[@]}" > "$work/many.json" 2> "$work/many.err" || { cat "$work/many.err"; exit 1; }
grep -h "ranks (" "$work/many.err" || true
python3 - "$work" "$nproc" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
a, b = json.load(open(work + "/one.json")), json.load(open(work + "/many.json"))
sa = [s["seconds"] for s in a["steps"]]; sb = [s["seconds"] for s in b["steps"]]
same = [s["removed"] for s in a["steps"]] == [s["removed"] for s in b["steps"]]
maxrel = max(abs(x["ppl"] - y["ppl"]) / x["ppl"] for s, t in zip(a["steps"], b["steps"])
             for x, y in zip(s["candidates"], t["candidates"]))
print(f"1 GPU : steps {['%.2f s' % x for x in sa]}, removed {[s['removed'] for s in a['steps']]}")
print(f"{n} GPUs: steps {['%.2f s' % x for x in sb]}, removed {[s['removed'] for s in b['steps']]}")
print(f"speed-up over one GPU: {sum(sa) / sum(sb):.2f}x ({n} GPUs); same removals: {same}; "
      f"max relative difference of a candidate's perplexity: {maxrel:.2e}")
PY
