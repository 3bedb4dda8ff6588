#!/usr/bin/env bash
# The README's second command (and CI's): install dependencies, build, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
BUILD_DIR=build bash scripts/build.sh
echo "[test] ctest (build/)"
cd build
ctest --output-on-failure --timeout 900 -j "${TEST_JOBS:-2}"
