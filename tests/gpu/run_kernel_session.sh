#!/usr/bin/env bash
# One GPU-machine call that confirms the CUDA kernels after a change to them (how the kernel records of issue 16 in
# tests/benchmarks/gpu/results/ are made): the CUDA build, gpu_check (kernels against the ATen form, models against
# the CPU engine; the hybrid checks that need transformers-made references are run_gpu_session.sh's), and our side of
# bench_vs_transformers.py on the four Mamba shapes (prefill tokens/s and the fraction of the same run's bf16 matmul
# rate). Run from the repository root:
#   tests/gpu/run_kernel_session.sh OUT [NLOHMANN_JSON_PREFIX] [FIXTURES_DIR]
# OUT receives build.log, gpu_check.txt, gpu-bench.{json,txt} (forward only: the stacked-candidate search steps are
# gpu-bench-stacked's and stacked-batch1's records) and profile-<shape>.txt (SHEDDER_PROFILE=1: GPU time per
# operation over the bench's timed prefill passes).
set -uo pipefail
out=$1 nl=${2:-} fx=${3:-../shared/fixtures}
mkdir -p "$out"
t0=$SECONDS
EXTRA_PREFIX=$nl scripts/build-cuda.sh build-cuda > "$out/build.log" 2>&1 || { tail -60 "$out/build.log"; exit 1; }
echo "build: $((SECONDS - t0)) s"
SHEDDER_TEST_DATA_DIR=$PWD/tests/data SHEDDER_RESOURCES_DIR=$PWD/resources SHEDDER_FIXTURES_DIR=$fx \
  timeout 120 build-cuda/tests/gpu/gpu_check > "$out/gpu_check.txt" 2>&1
echo "gpu_check: rc $?, $(grep -c '^FAIL' "$out/gpu_check.txt") failures, $((SECONDS - t0)) s"
grep -E "^FAIL" "$out/gpu_check.txt" | head -20
tail -3 "$out/gpu_check.txt"
work=${TMPDIR:-/tmp}/shedder-kernel-bench
python3 tests/benchmarks/gpu/bench_vs_transformers.py --cli build-cuda/app/cli/shedder-cli --skip-hf --no-stacking \
  --workdir "$work" --keep-models --json "$out/gpu-bench.json" > "$out/gpu-bench.txt" 2>&1
grep -E "forward" "$out/gpu-bench.txt"
for m in "$work"/*/; do
  [ -f "$m/config.json" ] || continue
  SHEDDER_PROFILE=1 build-cuda/app/cli/shedder-cli bench "$m" --device cuda --batch 8 --length 1024 --repeats 3 \
    --warmup 1 > "$out/profile-$(basename "$m").txt" 2>&1
done
echo "profiles: $((SECONDS - t0)) s"
echo "total: $((SECONDS - t0)) s"
