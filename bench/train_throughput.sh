#!/usr/bin/env bash
# Training throughput on Fashion-MNIST: `gossamer train` vs the same loop in PyTorch (Debian
# python3-torch), same model, batch size, optimizer and threads, in one run.
# Usage: [MODEL=lenet5|vit|ceit] bench/train_throughput.sh [STEPS=600] [THREADS=2] [BATCH=64]
# LeNet-5 runs examples/fashion_lenet.toml (SGD); vit and ceit examples/fashion_MODEL.toml (AdamW).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-600}; THREADS=${2:-2}; BATCH=${3:-64}
MODEL=${MODEL:-lenet5}
case "$MODEL" in
  lenet5) CONFIG=examples/fashion_lenet.toml ;;
  vit|ceit) CONFIG=examples/fashion_$MODEL.toml ;;
  *) echo "MODEL=$MODEL: choose lenet5, vit or ceit" >&2; exit 2 ;;
esac
LOG_EVERY=50
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== gossamer train: $MODEL, batch $BATCH, $THREADS threads, $STEPS steps"
build/bin/gossamer train "$CONFIG" --set train.max_steps=$STEPS --set train.threads=$THREADS \
  --set train.batch_size=$BATCH --set train.log_every=$LOG_EVERY --set output.progress=off \
  --set "output.dir=\"$out/run\"" --set output.checkpoint_every=100000 >/dev/null
# samples/s over the logged windows after the first (warm-up) one: median.
ours=$(/usr/bin/python3 - "$out/run/metrics.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"train"' in l]
print(statistics.median(r["samples_per_s"] for r in rows[1:]))
PY
)
echo "gossamer samples/s: $ours"

echo "== PyTorch peer (/usr/bin/python3): same model, batch, optimizer, threads"
peer_rate() {
  /usr/bin/python3 bench/peer/torch_train_peer.py --model "$MODEL" --steps "$STEPS" --threads "$THREADS" --batch-size "$BATCH" |
    tee /dev/stderr | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_s"])'
}
peer=$(peer_rate)
goal=""; [ "$MODEL" = lenet5 ] && goal="  (goal >= 1.2x)"
/usr/bin/python3 -c "print(f'ratio gossamer / pytorch = {float($ours)/float($peer):.2f}x$goal')"
# gossamer sets OpenBLAS to one thread (train.blas_threads = 1); give the peer the same setting too.
echo "== PyTorch peer with OPENBLAS_NUM_THREADS=1 (the BLAS setting gossamer uses)"
peer1=$(OPENBLAS_NUM_THREADS=1 peer_rate)
/usr/bin/python3 -c "print(f'ratio gossamer / pytorch(OPENBLAS_NUM_THREADS=1) = {float($ours)/float($peer1):.2f}x')"
