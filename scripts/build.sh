#!/usr/bin/env bash
# Configures and builds Gossamer (Release) into build/. Idempotent; ccache makes repeats cheap.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
echo "[build] cmake -> $BUILD_DIR (Release, $JOBS jobs)"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
start=$(date +%s)
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "[build] done in $(( $(date +%s) - start )) s"
