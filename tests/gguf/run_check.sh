#!/usr/bin/env bash
# CTest's gguf_llama_cpp: runs check_gguf.mjs (shedder-cli's GGUF exports loaded in real llama.cpp through
# node-llama-cpp, perplexity compared with shedder-cli's) when Node.js 20+ and tests/gguf/node_modules are there.
# Without a suitable node the test is skipped (exit 77). With node but without the installed modules it is skipped
# as well, except under CI=true, where that is a failure: scripts/run-tests.sh installs them (npm ci) whenever npm
# is present, so a CI run without them has lost the check.
# run_check.sh SHEDDER_CLI RESOURCES_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli=$1
resources=$2
if ! command -v node >/dev/null 2>&1 ||
   ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  echo "skipped: Node.js 20 or newer not found; it runs the llama.cpp check of GGUF exports (tests/gguf)"
  exit 77
fi
if [ ! -f "$here/node_modules/node-llama-cpp/package.json" ]; then
  msg="tests/gguf/node_modules is missing: run 'npm ci' in tests/gguf (scripts/run-tests.sh does when npm is present)"
  if [ "${CI:-}" = true ]; then
    echo "CI=true and node is present, yet $msg" >&2
    exit 1
  fi
  echo "skipped: $msg"
  exit 77
fi
exec node "$here/check_gguf.mjs" --cli "$cli" --resources "$resources"
