#!/usr/bin/env bash
# Configures and builds the project into ./build (Release, Ninja). Extra arguments go to `cmake -S -B`.
# Used by run-demo.sh and run-tests.sh; installs nothing itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SHEDDER_BUILD_DIR:-$root/build}
jobs=${SHEDDER_JOBS:-$(nproc)}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" --parallel "$jobs"
