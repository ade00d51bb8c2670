#!/usr/bin/env bash
# One command from a fresh Debian 12 clone to a full test run: installs the dependencies (including clang
# for the libFuzzer targets), builds everything with tests, and runs CTest. Reference fixtures are read from
# ../shared/fixtures when present (tests that need them say they skip otherwise).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SHEDDER_BUILD_DIR:-$root/build}
SHEDDER_WITH_TEST_DEPS=1 bash "$root/packaging/install-deps.sh"
bash "$root/scripts/build.sh" -DSHEDDER_BUILD_TESTS=ON -DSHEDDER_BUILD_FUZZERS=ON -DSHEDDER_BUILD_BENCHMARKS=ON "$@"
# The llama.cpp check of GGUF exports (CTest's gguf_llama_cpp) runs on node-llama-cpp, pinned in tests/gguf's
# package-lock.json: installed with npm ci when npm is present (and not already installed at the pinned version).
gguf_pin=$(sed -n 's/.*"node-llama-cpp": "\(.*\)".*/\1/p' "$root/tests/gguf/package.json" | head -n 1)
if command -v npm >/dev/null 2>&1; then
  have=$(node -p 'require(process.argv[1]).version' "$root/tests/gguf/node_modules/node-llama-cpp/package.json" \
         2>/dev/null || true)
  if [ "$have" = "$gguf_pin" ]; then
    echo "run-tests: node-llama-cpp $have is installed in tests/gguf (the llama.cpp check of GGUF exports)"
  else
    echo "run-tests: npm ci in tests/gguf: node-llama-cpp $gguf_pin with its prebuilt llama.cpp, for the llama.cpp" \
         "check of GGUF exports (about 730 MB of node_modules)"
    (cd "$root/tests/gguf" && npm ci --no-audit --no-fund) ||
      echo "run-tests: npm ci in tests/gguf failed; gguf_llama_cpp will be skipped (a failure under CI=true)" >&2
  fi
else
  echo "run-tests: npm not found; gguf_llama_cpp (GGUF exports checked in llama.cpp) will be skipped," \
       "or fail under CI=true if node is present"
fi
cd "$build"
ctest --output-on-failure --timeout 900 -j "${SHEDDER_TEST_JOBS:-1}"
