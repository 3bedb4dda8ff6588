#!/usr/bin/env bash
# End-to-end effect of the sparse kernels on training: LeNet-5 (or MODEL=resnet20) on Fashion-MNIST, one worker, pruned
# to SPARSITY at step 0 (sparse.method = oneshot), trained with sparse.kernels = dense and = auto
# in one run. Prints samples/s of both (median over the logged windows after the first), the
# router's per-layer measurements, and the Amdahl share of the pruned layers: the sum of their
# dense forward+backward times over the dense step time (batch / samples/s). With share p and a
# layer speedup S, the best whole-step speedup is 1 / ((1 - p) + p / S).
# Usage: [MODEL=lenet5] bench/sparse_train_e2e.sh [STEPS=400] [THREADS=2] [BATCH=64] [SPARSITY=0.9]
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-400}; THREADS=${2:-2}; BATCH=${3:-64}; SPARSITY=${4:-0.9}; MODEL=${MODEL:-lenet5}
LOG_EVERY=$(( STEPS / 8 > 1 ? STEPS / 8 : 1 ))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() {  # $1 = kernels mode
  build/bin/gossamer train examples/fashion_lenet.toml --set model.name="$MODEL" --set train.max_steps="$STEPS" \
    --set train.threads="$THREADS" --set train.batch_size="$BATCH" --set train.log_every="$LOG_EVERY" \
    --set output.progress=off --set "output.dir=\"$out/$1\"" --set output.checkpoint_every=100000 \
    --set sparse.method=oneshot --set sparse.sparsity="$SPARSITY" --set sparse.start_epoch=0 \
    --set sparse.export=false --set data.test_limit=1000 --set sparse.kernels="$1" > "$out/$1.txt"
}
echo "== $MODEL, sparsity $SPARSITY (oneshot at step 0), batch $BATCH, $THREADS threads, $STEPS steps"
run dense
run auto
/usr/bin/python3 - "$out" "$BATCH" <<'PY'
import json, re, statistics, sys
out, batch = sys.argv[1], int(sys.argv[2])
def rate(mode):
    rows = [json.loads(l) for l in open(f"{out}/{mode}/metrics.jsonl") if '"train"' in l]
    return statistics.median(r["samples_per_s"] for r in rows[1:])
dense, auto = rate("dense"), rate("auto")
print(f"dense kernels : {dense:8.0f} samples/s")
print(f"auto kernels  : {auto:8.0f} samples/s   speedup {auto / dense:.2f}x")
layer_dense = layer_best = 0.0
for line in open(f"{out}/auto.txt"):
    if line.startswith("kernels"):
        print(line.rstrip())
        m = re.search(r"b(\d+) train: \w+ \(sparse ([\d.]+) ms, dense ([\d.]+) ms\)", line)
        if m and int(m.group(1)) == batch:
            s, d = float(m.group(2)), float(m.group(3))
            layer_dense += d
            layer_best += min(s, d)
step_ms = 1000.0 * batch / dense
if layer_dense > 0:
    p = layer_dense / step_ms
    S = layer_dense / layer_best
    print(f"Amdahl: pruned layers take {layer_dense:.2f} ms of a {step_ms:.2f} ms dense step (share {p:.0%}); "
          f"their measured speedup {S:.2f}x bounds the step at {1 / ((1 - p) + p / S):.2f}x")
PY
