#!/usr/bin/env bash
# The README's first command: install dependencies, build, and run the main training job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
# Only the tool: the tests and benchmarks are scripts/test.sh's business.
JOBS=${JOBS:-$(nproc)} BUILD_DIR=build TARGET=gossamer_cli bash scripts/build.sh
echo "[run] build/bin/gossamer train examples/quickstart.toml $*"
exec build/bin/gossamer train examples/quickstart.toml "$@"
