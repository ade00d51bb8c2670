#!/usr/bin/env bash
# One GPU-machine session for the hybrid models (how tests/benchmarks/gpu/results/*zamba2* were made): the CUDA build,
# the Zamba2 references made with transformers (tests/data/make_zamba2_references.py), gpu_check with its hybrid
# checks, and the Zamba2-1.2B-shape benchmark against transformers. Run from the repository root:
#   tests/gpu/run_gpu_session.sh OUT [NLOHMANN_JSON_PREFIX] [FIXTURES_DIR] [all|bench]
# OUT receives build.log, refs.log, gpu_check.txt, zamba2-search.tar, zamba2-24l.tar and gpu-bench-zamba2.{json,txt}.
# With `all` the benchmark runs only when the rest took under 5.5 minutes (one call of the GPU tool); `bench` runs it
# alone on an existing build, `checks` everything but it.
set -uo pipefail
out=$1 nl=${2:-} fx=${3:-../shared/fixtures} what=${4:-all}
export PYTHONUNBUFFERED=1
t0=$SECONDS
work=/tmp/shedder-gpu-session
mkdir -p "$work"
if [ "$what" != bench ]; then
  EXTRA_PREFIX=$nl scripts/build-cuda.sh build-cuda > "$out/build.log" 2>&1 || { tail -60 "$out/build.log"; exit 1; }
  echo "build: $((SECONDS - t0)) s"
  python3 tests/data/make_zamba2_references.py "$work/refs" > "$out/refs.log" 2>&1
  echo "references: $((SECONDS - t0)) s"
  grep -E "FAILED|step|zamba2-gpu|Error" "$out/refs.log" | head -30
  (cd "$work/refs" && tar cf "$out/zamba2-search.tar" zamba2-search && tar cf "$out/zamba2-24l.tar" zamba2-24l)
  SHEDDER_TEST_DATA_DIR=$PWD/tests/data SHEDDER_RESOURCES_DIR=$PWD/resources SHEDDER_FIXTURES_DIR=$fx \
    SHEDDER_GPU_HYBRID_DIR=$work/refs/zamba2-gpu SHEDDER_GPU_HYMBA_DIR=$work/refs/hymba-tiny build-cuda/tests/gpu/gpu_check > "$out/gpu_check.txt" 2>&1
  grep -E "^FAIL|zamba|hymba|peak|^OK|FAILED|SKIP" "$out/gpu_check.txt" | head -80
  echo "gpu_check: $((SECONDS - t0)) s"
  [ "$what" = checks ] && exit 0
  [ $((SECONDS - t0)) -lt 330 ] || { echo "benchmark left for the next call"; exit 0; }
fi
python3 tests/benchmarks/gpu/bench_vs_transformers.py --cli build-cuda/app/cli/shedder-cli --shapes zamba2-1.2b \
  --json "$out/gpu-bench-zamba2.json" > "$out/gpu-bench-zamba2.txt" 2>&1
tail -20 "$out/gpu-bench-zamba2.txt"
echo "total: $((SECONDS - t0)) s"
