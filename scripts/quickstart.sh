#!/usr/bin/env bash
# The README's first command: install dependencies, build, and run the main training job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
JOBS=${JOBS:-$(nproc)} BUILD_DIR=build bash scripts/build.sh
echo "[run] build/bin/gossamer train examples/quickstart.toml $*"
exec build/bin/gossamer train examples/quickstart.toml "$@"
