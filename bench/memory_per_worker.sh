#!/usr/bin/env bash
# Resident memory of in-process LeNet-5 workers: peak RSS (GNU time's "Maximum resident set size")
# of one `gossamer train` epoch at 1 worker and at each N of WORKERS, and the memory each worker
# beyond the first adds: (peak(N) - peak(1)) / (N - 1). The data set (Fashion-MNIST, loaded once
# and shared) and LibTorch are in peak(1). Every worker trains 4 steps of batch 16 and evaluates
# 1000 test images at the default eval batch (1000).
# Usage: bench/memory_per_worker.sh [WORKERS="64 512"]
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${1:-"64 512"}
[ -x /usr/bin/time ] || { echo "memory_per_worker.sh: needs GNU time (apt-get install time)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

peak_kb() {  # peak_kb WORKERS
  local n=$1
  /usr/bin/time -f "%M" -o "$out/rss" build/bin/gossamer train examples/quickstart.toml \
    --set cluster.workers="$n" --set data.train_limit=$((n * 64)) --set data.test_limit=1000 \
    --set train.epochs=1 --set train.batch_size=16 --set sparse.method='"none"' \
    --set output.progress='"off"' --set "output.dir=\"$out/run$n\"" >/dev/null
  cat "$out/rss"
}
base=$(peak_kb 1)
printf "%-8s %-12s %s\n" workers "peak RSS" "per worker beyond the first"
printf "%-8s %-12s %s\n" 1 "$((base / 1024)) MB" "-"
for n in $WORKERS; do
  kb=$(peak_kb "$n")
  awk -v n="$n" -v kb="$kb" -v base="$base" \
    'BEGIN { printf "%-8s %-12s %.1f MB\n", n, int(kb / 1024) " MB", (kb - base) / 1024 / (n - 1) }'
done
