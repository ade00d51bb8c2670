#!/usr/bin/env bash
# Exact early abandonment on the demo models, through the CLI: the same search with and without --exhaustive
# (block and ssm, 8 steps, 16 demo calibration windows of 128 tokens, one window per pass so the bound is checked
# after every window). Prints, per run, the picks' agreement and the block passes (blocks_run) of both, with their
# ratio. Usage: tests/benchmarks/bench_abandonment.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=${1:-$root/build}/app/cli/shedder-cli
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# shedder-cli search DEMO --granularity G --steps 8 --calib-text calibration.jsonl --windows 16 --seq-len 128 [--exhaustive]"
for m in mamba1 mamba2; do
  for g in block ssm; do
    for mode in early exhaustive; do
      flag=$([ $mode = exhaustive ] && echo --exhaustive || true)
      "$cli" search "$root/resources/demo/$m" --granularity $g --steps 8 --windows 16 --seq-len 128 \
        --calib-text "$root/resources/demo/corpus/calibration.jsonl" $flag --json 2>/dev/null \
        | sed -n '/^{/,$p' > "$tmp/$m-$g-$mode.json"
    done
    python3 - "$tmp/$m-$g-early.json" "$tmp/$m-$g-exhaustive.json" "$m $g" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
same = [s["removed"] for s in a["steps"]] == [s["removed"] for s in b["steps"]]
exact = all((c.get("ppl") == d["ppl"]) if "ppl" in c else (c["ppl_at_least"] <= d["ppl"])
            for s, t in zip(a["steps"], b["steps"]) for c, d in zip(s["candidates"], t["candidates"]))
spread = [max(c["ppl"] for c in t["candidates"]) / min(c["ppl"] for c in t["candidates"]) for t in b["steps"]]
print(f"{sys.argv[3]:13s} same picks: {'yes' if same else 'NO'}; complete scores equal, bounds below: "
      f"{'yes' if exact else 'NO'}; {a['abandoned']} of {a['evaluations']} stopped early; blocks_run "
      f"{b['blocks_run']} -> {a['blocks_run']} (ratio {a['blocks_run'] / b['blocks_run']:.3f}); "
      f"worst/best candidate ppl per step {min(spread):.3f}-{max(spread):.3f}")
PY
  done
done
