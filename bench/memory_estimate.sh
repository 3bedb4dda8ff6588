#!/usr/bin/env bash
# The preflight's memory estimate (README, Memory) against what runs really use: for each
# configuration, the "memory: about X GB estimated" line `gossamer train` logs before it loads the
# data, and the peak resident memory of the whole run (GNU time's "Maximum resident set size").
# Every run trains 2 steps (train.max_steps = 2) and evaluates 1000 test images.
# Usage: bench/memory_estimate.sh [CASE...]  (default: every case below)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/bin/time ] || { echo "memory_estimate.sh: needs GNU time (apt-get install time)" >&2; exit 2; }
[ -x build/bin/gossamer ] || { echo "memory_estimate.sh: build/bin/gossamer not built (bash scripts/build.sh)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

declare -A CASES=(
  [lenet5-1w-b16]="cluster.workers=1 train.batch_size=16"
  [lenet5-8w-b16]="cluster.workers=8 train.batch_size=16"
  [lenet5-64w-b16]="cluster.workers=64 train.batch_size=16"
  [lenet5-1w-b2048]="cluster.workers=1 train.batch_size=2048"
  [mlp-64w-b16]="model.name=\"mlp\" cluster.workers=64 train.batch_size=16"
  [mlp4096-4w-b64]="model.name=\"mlp\" model.hidden=[4096,4096] cluster.workers=4 train.batch_size=64"
  [resnet20-1w-b256]="model.name=\"resnet20\" cluster.workers=1 train.batch_size=256"
  [resnet20w64-2w-b64]="model.name=\"resnet20\" model.width=64 cluster.workers=2 train.batch_size=64"
  [mlp8-1024w-b8]="model.name=\"mlp\" model.hidden=[8] cluster.workers=1024 data.train_limit=0 train.batch_size=8"
  [vit-1w-b64]="model.name=\"vit\" optimizer.name=\"adamw\" cluster.workers=1 train.batch_size=64"
)
ORDER=(lenet5-1w-b16 lenet5-8w-b16 lenet5-64w-b16 lenet5-1w-b2048 mlp-64w-b16 mlp4096-4w-b64 resnet20-1w-b256
       resnet20w64-2w-b64 mlp8-1024w-b8 vit-1w-b64)
[ $# -gt 0 ] && ORDER=("$@")

printf "%-20s %-10s %-10s %s\n" case estimate "peak RSS" "estimate / peak"
for name in "${ORDER[@]}"; do
  [ -n "${CASES[$name]+x}" ] || { echo "memory_estimate.sh: unknown case '$name' (known: ${!CASES[*]})" >&2; exit 2; }
  sets=()
  for kv in ${CASES[$name]}; do sets+=(--set "$kv"); done
  /usr/bin/time -f "%M" -o "$out/rss" build/bin/gossamer train examples/quickstart.toml "${sets[@]}" \
    --set sparse.method='"none"' --set train.max_steps=2 --set data.test_limit=1000 --set output.progress='"off"' \
    --set "output.dir=\"$out/$name\"" >"$out/log" 2>&1 || { cat "$out/log" >&2; exit 1; }
  est=$(sed -n 's/.*memory: about \([0-9.]*\) GB estimated.*/\1/p' "$out/log" | head -1)
  kb=$(cat "$out/rss")
  awk -v n="$name" -v e="$est" -v kb="$kb" \
    'BEGIN { printf "%-20s %-10s %-10s %.2f\n", n, e " GB", sprintf("%.2f GB", kb * 1024 / 1e9), e / (kb * 1024 / 1e9) }'
done
