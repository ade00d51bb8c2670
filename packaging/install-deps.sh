#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build, test and run Mamba Shedder Workbench.
# Idempotent: packages already present are skipped quickly. Run as root (or via sudo).
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config
  qt6-base-dev qt6-base-dev-tools qt6-svg-dev libgl-dev libqcustomplot-dev fonts-dejavu-core
  libtorch-dev nlohmann-json3-dev libgloo-dev
  libopenblas0-openmp
  fortunes-min
)
# Tests also build libFuzzer targets with clang, and build, unpack and lint the Debian package.
if [ "${SHEDDER_WITH_TEST_DEPS:-0}" = 1 ]; then
  PKGS+=(clang libclang-rt-14-dev dpkg-dev file lintian)
fi
# scripts/make-screenshot.sh runs the GUI under a real X server.
if [ "${SHEDDER_WITH_SCREENSHOT_DEPS:-0}" = 1 ]; then
  PKGS+=(xvfb xauth)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
