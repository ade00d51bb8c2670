#!/usr/bin/env bash
# One GPU-machine call that confirms the CUDA kernels after a change to them (how the kernel records of issue 16 in
# tests/benchmarks/gpu/results/ are made): the CUDA build, gpu_check (kernels against the ATen form, models against
# the CPU engine; the hybrid checks that need transformers-made references are run_gpu_session.sh's), and our side of
# bench_vs_transformers.py on the four Mamba shapes (prefill tokens/s and the fraction of the same run's bf16 matmul
# rate). Run from the repository root:
#   tests/gpu/run_kernel_session.sh OUT [NLOHMANN_JSON_PREFIX] [FIXTURES_DIR]
# OUT receives build.log, gpu_check.txt, gpu-bench.{json,txt} (forward only: the stacked-candidate search steps are
# gpu-bench-stacked's and stacked-batch1's records) and profiles.txt (per shape, SHEDDER_PROFILE=1: GPU time per
# operation over the bench's timed prefill passes). SHAPES (comma-separated) limits the shapes. With AB_VARIANTS set
# ("base:;label:VAR=1;..."), also ab.{txt,json}: tests/benchmarks/gpu/ab_kernels.py on the same models (the kernels'
# switches against each other, in the same run; AB_MODELS limits the models, AB_ROUNDS sets the rounds, AB_WINDOWS the
# batch (default 8), AB_REPEATS the timed prefills per run, AB_SCOPES the SHEDDER_PROFILE scopes timed per variant).
# With NCU="MODEL:KERNEL_REGEX ..." (e.g. "mamba2-130m:ssd_chunk_kernel"), also ncu-MODEL-KERNEL.txt: Nsight Compute
# on that kernel's third launch in a prefill (speed of light, warp states, instruction mix, occupancy, source
# counters), and ncu-MODEL-KERNEL-source.csv, its per-instruction source view.
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
  --workdir "$work" --keep-models ${SHAPES:+--shapes "$SHAPES"} --json "$out/gpu-bench.json" > "$out/gpu-bench.txt" 2>&1
grep -E "forward" "$out/gpu-bench.txt"
for m in "$work"/*/; do  # one file (a call brings back a limited number of files)
  [ -f "$m/config.json" ] || continue
  echo "== $(basename "$m")" >> "$out/profiles.txt"
  SHEDDER_PROFILE=1 build-cuda/app/cli/shedder-cli bench "$m" --device cuda --batch 8 --length 1024 --repeats 3 \
    --warmup 1 >> "$out/profiles.txt" 2>&1
done
echo "profiles: $((SECONDS - t0)) s"
if [ -n "${AB_VARIANTS:-}" ]; then
  python3 tests/benchmarks/gpu/ab_kernels.py --cli build-cuda/app/cli/shedder-cli --workdir "$work" \
    --variants "$AB_VARIANTS" --rounds "${AB_ROUNDS:-3}" ${AB_MODELS:+--models "$AB_MODELS"} \
    --windows "${AB_WINDOWS:-8}" --repeats "${AB_REPEATS:-3}" ${AB_SCOPES:+--profile-scopes "$AB_SCOPES"} \
    --json "$out/ab.json" \
    > "$out/ab.txt" 2>&1
  cat "$out/ab.txt"
  echo "a/b: $((SECONDS - t0)) s"
fi
for spec in ${NCU:-}; do
  m=${spec%%:*} k=${spec#*:}
  rep=${TMPDIR:-/tmp}/ncu-$m-$k
  ncu --kernel-name "regex:$k" --launch-skip 2 --launch-count 1 --section SpeedOfLight --section WarpStateStats \
    --section SchedulerStats --section InstructionStats --section LaunchStats --section Occupancy \
    --section SourceCounters --import-source yes -f -o "$rep" build-cuda/app/cli/shedder-cli bench "$work/$m" \
    --device cuda --batch 8 --length 1024 --repeats 1 --warmup 0 --decode-tokens 1 --prompt 1 > /dev/null 2>&1
  echo "ncu $m $k: rc $?, $((SECONDS - t0)) s"
  ncu --import "$rep.ncu-rep" --print-details all > "$out/ncu-$m-$k.txt" 2>&1
  # The per-instruction source view (SASS with its CUDA line; stalls, shared and global excess per instruction):
  # where the kernel's bank conflicts and uncoalesced accesses are.
  ncu --import "$rep.ncu-rep" --page source --print-source cuda,sass --csv > "$out/ncu-$m-$k-source.csv" 2>&1 ||
    ncu --import "$rep.ncu-rep" --page source --csv > "$out/ncu-$m-$k-source.csv" 2>&1
done
echo "total: $((SECONDS - t0)) s"
