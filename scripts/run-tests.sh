#!/usr/bin/env bash
# One command from a fresh Debian 12 clone to a full test run: installs the dependencies (including clang
# for the libFuzzer targets), builds everything with tests, and runs CTest. Reference fixtures are read from
# ../shared/fixtures when present (tests that need them say they skip otherwise).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SHEDDER_BUILD_DIR:-$root/build}
SHEDDER_WITH_TEST_DEPS=1 bash "$root/packaging/install-deps.sh"
bash "$root/scripts/build.sh" -DSHEDDER_BUILD_TESTS=ON -DSHEDDER_BUILD_FUZZERS=ON -DSHEDDER_BUILD_BENCHMARKS=ON "$@"
cd "$build"
ctest --output-on-failure --timeout 900 -j "${SHEDDER_TEST_JOBS:-1}"
