#!/usr/bin/env bash
# Issue 13's frontier: Fashion-MNIST LeNet-5, 16 in-process workers, every compressor, for
# compressed averaging (parallel SGD: every worker sends its gradient packet to all others, or
# PowerSGD's two allreduces) and for compressed gossip on a ring (CHOCO-SGD, next to uncompressed
# D-SGD). Prints one table and writes CSV: final test accuracy of the mean model, bytes per worker
# per step (counted packet bytes), compression ratio against the same algorithm's dense messages
# (parallel SGD: a ring allreduce; gossip: D-SGD's dense models), and the modelled communication
# time per worker over the run on a 100 Mbit/s, 50 us network (a formula over the counted bytes,
# not a measurement).
#
#   bash bench/repro/compress_frontier.sh
#
# Budget knobs (defaults: about 25 minutes on 2 idle cores): EPOCHS (2), TRAIN_LIMIT (0 = all
# 60k), ROWS (a grep -E pattern over the row names, default all), GAMMA (CHOCO's consensus step,
# default 0.5). psgd-powersgd1-warm sends plain allreduces for the first 10% of the steps (PyTorch's
# start_powerSGD_iter advice; 235 steps an epoch at 16 workers x batch 16).
set -euo pipefail
cd "$(dirname "$0")/../.."
GOSSAMER=${GOSSAMER:-build/bin/gossamer}
EPOCHS=${EPOCHS:-2}
TRAIN_LIMIT=${TRAIN_LIMIT:-0}
ROWS=${ROWS:-.}
GAMMA=${GAMMA:-0.5}
OUT=${OUT:-runs/repro/compress_frontier}
[ -x "$GOSSAMER" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
mkdir -p "$OUT"
BASE=(examples/compress_topk.toml --set cluster.workers=16 --set cluster.topology='"ring"'
      --set cluster.bandwidth_gbps=0.1 --set cluster.latency_us=50 --set train.epochs="$EPOCHS"
      --set data.train_limit="$TRAIN_LIMIT" --set output.progress=off --set train.log_every=100
      --set compress.error_feedback=false)
CSV="$OUT/frontier.csv"
echo "row,algorithm,compressor,test_accuracy,bytes_per_worker_per_step,ratio,modelled_100mbit_s,wall_s" > "$CSV"

summary() { /usr/bin/python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
ev = [r for r in rows if r.get("event") == "eval"][-1]
tr = [r for r in rows if r.get("event") == "train"][-1]
steps = tr["step"]
sent, dense = tr["bytes_sent_per_worker"], tr.get("dense_bytes_sent_per_worker") or tr["bytes_sent_per_worker"]
print(f'{ev["test_accuracy"]:.4f},{sent / steps:.0f},{dense / sent:.2f},{tr["modelled_comm_s"]:.2f},{ev["wall_s"]:.1f}')
PY
}
run() {  # run ROW ALGORITHM COMPRESSOR overrides...
  local row=$1 algo=$2 comp=$3; shift 3
  echo "$row" | grep -qE "$ROWS" || return 0
  local dir="$OUT/$row"
  echo "[frontier] $row ..." >&2
  if "$GOSSAMER" train "${BASE[@]}" --set output.dir="\"$dir\"" --set optimizer.algorithm="\"$algo\"" "$@" \
      > "$dir.log" 2>&1; then
    echo "$row,$algo,$comp,$(summary "$dir")" >> "$CSV"
  elif grep -q "loss became" "$dir.log"; then  # the run's own divergence check stopped it
    echo "[frontier] $row diverged: $(grep -o 'loss became.*at step [0-9]*' "$dir.log" | head -1)" >&2
    echo "$row,$algo,$comp,diverged,,,," >> "$CSV"
  else
    echo "[frontier] $row failed, see $dir.log" >&2
  fi
}

# Compressed averaging (parallel SGD; PowerSGD factors each layer's gradient matrix).
run psgd-none parallel-sgd none --set compress.method='"none"'
run psgd-fp16 parallel-sgd fp16 --set compress.method='"fp16"'
run psgd-bf16 parallel-sgd bf16 --set compress.method='"bf16"'
run psgd-sign parallel-sgd sign --set compress.method='"sign"'
run psgd-sign-ef parallel-sgd sign+ef --set compress.method='"sign"' --set compress.error_feedback=true
run psgd-topk1-ef parallel-sgd topk1%+ef --set compress.method='"topk"' --set compress.density=0.01 --set compress.error_feedback=true
run psgd-topk01-ef parallel-sgd topk0.1%+ef --set compress.method='"topk"' --set compress.density=0.001 --set compress.error_feedback=true
run psgd-randk1 parallel-sgd randk1% --set compress.method='"randk"' --set compress.density=0.01
run psgd-randk10 parallel-sgd randk10% --set compress.method='"randk"' --set compress.density=0.1
run psgd-randk1-ef parallel-sgd randk1%+ef --set compress.method='"randk"' --set compress.density=0.01 --set compress.error_feedback=true
run psgd-qsgd4 parallel-sgd qsgd-4bit --set compress.method='"qsgd"' --set compress.levels=7
run psgd-qsgd2 parallel-sgd qsgd-2bit --set compress.method='"qsgd"' --set compress.levels=1
run psgd-alq4 parallel-sgd alq-4bit --set compress.method='"alq"' --set compress.levels=7
run psgd-amq4 parallel-sgd amq-4bit --set compress.method='"amq"' --set compress.levels=7
run psgd-terngrad parallel-sgd terngrad --set compress.method='"terngrad"'
run psgd-powersgd1 parallel-sgd powersgd-r1+ef --set compress.method='"powersgd"' --set compress.rank=1 --set compress.error_feedback=true
run psgd-powersgd1-warm parallel-sgd powersgd-r1+ef-warm --set compress.method='"powersgd"' --set compress.rank=1 --set compress.error_feedback=true --set compress.start_step=$((235 * EPOCHS / 10))
run psgd-lgreco-topk1-ef parallel-sgd lgreco-topk1%+ef --set compress.method='"topk"' --set compress.density=0.01 --set compress.error_feedback=true --set compress.layerwise='"lgreco"' --set compress.layerwise_every=50
run psgd-powersgd2 parallel-sgd powersgd-r2+ef --set compress.method='"powersgd"' --set compress.rank=2 --set compress.error_feedback=true

# Gossip on the ring: D-SGD with dense models, CHOCO-SGD with compressed differences.
run dsgd-none dsgd none --set compress.method='"none"'
CHOCO=(--set optimizer.consensus_step="$GAMMA")
run choco-fp16 choco fp16 "${CHOCO[@]}" --set compress.method='"fp16"'
run choco-sign choco sign "${CHOCO[@]}" --set compress.method='"sign"'
run choco-topk1 choco topk1% "${CHOCO[@]}" --set compress.method='"topk"' --set compress.density=0.01
run choco-topk10 choco topk10% "${CHOCO[@]}" --set compress.method='"topk"' --set compress.density=0.1
run choco-randk10 choco randk10% "${CHOCO[@]}" --set compress.method='"randk"' --set compress.density=0.1
run choco-qsgd4 choco qsgd-4bit "${CHOCO[@]}" --set compress.method='"qsgd"' --set compress.levels=7
run choco-alq4 choco alq-4bit "${CHOCO[@]}" --set compress.method='"alq"' --set compress.levels=7
run choco-amq4 choco amq-4bit "${CHOCO[@]}" --set compress.method='"amq"' --set compress.levels=7
run choco-terngrad choco terngrad "${CHOCO[@]}" --set compress.method='"terngrad"'

/usr/bin/python3 - "$CSV" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
base = {r["algorithm"]: float(r["test_accuracy"]) for r in rows if r["compressor"] == "none"}
print(f'{"row":18} {"compressor":13} {"accuracy":>8} {"vs none":>8} {"B/worker/step":>13} {"ratio":>7} {"100Mbit s":>9} {"wall s":>7}')
for r in rows:
    if r["test_accuracy"] == "diverged":
        print(f'{r["row"]:18} {r["compressor"]:13} {"diverged (the loss became NaN)":>40}')
        continue
    ref = base.get("dsgd" if r["algorithm"] == "choco" else r["algorithm"])
    d = f'{100 * (float(r["test_accuracy"]) - ref):+.2f}' if ref is not None else "-"
    print(f'{r["row"]:18} {r["compressor"]:13} {100 * float(r["test_accuracy"]):7.2f}% {d:>8} '
          f'{float(r["bytes_per_worker_per_step"]):13.0f} {float(r["ratio"]):6.1f}x {float(r["modelled_100mbit_s"]):9.2f} '
          f'{float(r["wall_s"]):7.1f}')
PY
echo "csv: $CSV" >&2
