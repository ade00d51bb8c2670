#!/usr/bin/env bash
# Builds shedder-cli, gpu_check and the benchmarks against the CUDA libtorch of the local PyTorch installation
# (a GPU machine: `python3 -c 'import torch'` must work, nvcc must be on PATH for the project's CUDA kernels).
# No Qt there: the GUI and the Qt tests are left out. Usage: scripts/build-cuda.sh [BUILD_DIR]
# EXTRA_PREFIX adds to CMAKE_PREFIX_PATH (e.g. where nlohmann_json's CMake files are);
# SHEDDER_CUDA_ARCHITECTURES overrides the kernels' architectures (default: the GPU present); EXTRA_CMAKE_ARGS
# adds configure options (e.g. -DSHEDDER_WITH_NCCL=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-cuda}"
prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
if [ -n "${EXTRA_PREFIX:-}" ]; then prefix="$prefix;$EXTRA_PREFIX"; fi
args=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$prefix" -DSHEDDER_BUILD_TESTS=OFF -DSHEDDER_BUILD_GUI=OFF
      -DSHEDDER_BUILD_BENCHMARKS=ON)
if [ -n "${SHEDDER_CUDA_ARCHITECTURES:-}" ]; then args+=("-DSHEDDER_CUDA_ARCHITECTURES=$SHEDDER_CUDA_ARCHITECTURES"); fi
# shellcheck disable=SC2206
if [ -n "${EXTRA_CMAKE_ARGS:-}" ]; then args+=($EXTRA_CMAKE_ARGS); fi
cmake -S . -B "$build" "${args[@]}" > "$build.configure.log" 2>&1 || { tail -40 "$build.configure.log"; exit 1; }
grep -i "CUDA kernels" "$build.configure.log" || true
cmake --build "$build" -j"$(nproc)" --target shedder-cli gpu_check > "$build.build.log" 2>&1 ||
  { grep -B2 -A12 -i "error" "$build.build.log" | head -80; exit 1; }
echo "built $build/app/cli/shedder-cli and $build/tests/gpu/gpu_check"
