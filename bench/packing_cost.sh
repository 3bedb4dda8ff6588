#!/usr/bin/env bash
# What sparse-aware messages cost and save in a real run: the main job (8 in-process workers on a
# ring, DmSGD) with RigL at SPARSITY, for MODEL, once with packed messages and once with dense ones
# (sparse.packed_messages = false), the same seed. Prints, from each run's summary: bytes per
# worker per step and their share of what dense messages would send, the time the message seam
# measured packing and unpacking (its share of the wall time), and samples/s.
# Usage: bench/packing_cost.sh [STEPS=300] [SPARSITY=0.9] [MODEL=lenet5]  (MODEL=resnet20 is slow: ~30 steps)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-300}; SPARSITY=${2:-0.9}; MODEL=${3:-lenet5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() {  # $1 = true | false
  build/bin/gossamer train examples/quickstart.toml --set model.name="$MODEL" --set sparse.method=rigl \
    --set sparse.sparsity="$SPARSITY" --set train.max_steps="$STEPS" --set output.progress=off \
    --set sparse.kernels=dense --set sparse.export=false --set data.test_limit=1000 \
    --set output.checkpoint_every=100000 --set sparse.packed_messages="$1" --set "output.dir=\"$out/$1\"" \
    > "$out/$1.txt"
}
echo "== $MODEL, RigL at sparsity $SPARSITY, 8 in-process workers (ring), $STEPS steps, $(nproc) cores"
for packed in true false; do
  run "$packed"
  echo "-- sparse.packed_messages = $packed"
  grep -E "^(bytes sent|vs dense|packing|wall time)" "$out/$packed.txt" || true
done
