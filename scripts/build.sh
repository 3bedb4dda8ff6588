#!/usr/bin/env bash
# Configures and builds Gossamer (Release) into build/. Idempotent; ccache makes repeats cheap.
# TARGET=name builds only that target and what it needs (quickstart.sh: the tool, gossamer_cli).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
TARGET=${TARGET:-}
echo "[build] cmake -> $BUILD_DIR (Release, $JOBS jobs${TARGET:+, target $TARGET only})"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
start=$(date +%s)
cmake --build "$BUILD_DIR" -j "$JOBS" ${TARGET:+--target "$TARGET"}
echo "[build] done in $(( $(date +%s) - start )) s"
