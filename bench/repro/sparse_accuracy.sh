#!/usr/bin/env bash
# Issue 5's reproduction: Fashion-MNIST LeNet-5, accuracy vs sparsity for one-shot magnitude,
# one-shot WoodFisher, GMP, GaP (cyclic; with WORKERS >= 4 also parallel), RigL and SET next to
# the dense model; then 2:4 and 1:4 with SR-STE vs plain STE, with their SAD curves. Prints
# tables and writes CSV.
#
#   bash bench/repro/sparse_accuracy.sh                 # 1 worker
#   WORKERS=8 bash bench/repro/sparse_accuracy.sh       # 8 in-process ring workers (DmSGD)
#
# Budget knobs (defaults keep one pass near 15 minutes on 2 idle cores): EPOCHS (training epochs
# per run), FINETUNE (epochs after a one-shot prune), SPARSITIES, TRAIN_LIMIT (0 = all 60k).
set -euo pipefail
cd "$(dirname "$0")/../.."
GOSSAMER=${GOSSAMER:-build/bin/gossamer}
WORKERS=${WORKERS:-1}
EPOCHS=${EPOCHS:-3}
FINETUNE=${FINETUNE:-1}
SPARSITIES=${SPARSITIES:-"0.5 0.8 0.9 0.95"}
TRAIN_LIMIT=${TRAIN_LIMIT:-0}
OUT=${OUT:-runs/repro/sparse_w${WORKERS}}
[ -x "$GOSSAMER" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
mkdir -p "$OUT"
if [ "$WORKERS" = 1 ]; then
  BASE=(examples/fashion_lenet.toml --set train.batch_size=64 --set optimizer.lr=0.05)
else
  BASE=(examples/quickstart.toml --set cluster.workers="$WORKERS")
fi
COMMON=(--set train.epochs="$EPOCHS" --set data.train_limit="$TRAIN_LIMIT" --set output.progress=off --set train.log_every=100)
CSV="$OUT/accuracy.csv"
echo "method,sparsity,test_accuracy,achieved_sparsity,seconds" > "$CSV"

acc() { /usr/bin/python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
ev = [r for r in rows if r.get("event") == "eval"]
print(f'{ev[-1]["test_accuracy"]:.4f},{ev[-1].get("sparsity", 0.0):.4f}')
PY
}
run() {  # run NAME SPARSITY overrides...
  local name=$1 sp=$2; shift 2
  local dir="$OUT/$name-$sp" t0=$(date +%s)
  echo "[repro] $name at $sp ..." >&2
  "$GOSSAMER" train "${BASE[@]}" "${COMMON[@]}" --set output.dir="\"$dir\"" "$@" > "$dir.log" 2>&1 ||
    { echo "[repro] $name failed, see $dir.log" >&2; return 1; }
  echo "$name,$sp,$(acc "$dir"),$(( $(date +%s) - t0 ))" >> "$CSV"
}

run dense 0.0 --set sparse.method=none  # the multi-worker base (quickstart.toml) is itself sparse
for sp in $SPARSITIES; do
  for scorer in magnitude woodfisher; do
    # One-shot: prune the trained dense model, then fine-tune with the mask fixed.
    t0=$(date +%s)
    ckpt="$OUT/dense-0.0/checkpoint.pt"; [ -f "$ckpt" ] || ckpt="$OUT/dense-0.0/checkpoint-rank0.pt"
    # --force: a re-run of this script replaces its own earlier prune (gossamer prune keeps one otherwise).
    "$GOSSAMER" prune "$ckpt" --method "$scorer" --sparsity "$sp" --out "$OUT/prune-$scorer-$sp" --force \
      --set cluster.workers=1 > "$OUT/prune-$scorer-$sp.log" 2>&1
    grep "test accuracy" "$OUT/prune-$scorer-$sp.log" | sed "s/^/[repro] $scorer $sp: /" >&2
    before_ft=$(grep -o '[0-9.]*% after' "$OUT/prune-$scorer-$sp.log" | head -1 | tr -d '% after')
    echo "oneshot-$scorer-noft,$sp,$(/usr/bin/python3 -c "print(f'{$before_ft/100:.4f}')"),$sp,$(( $(date +%s) - t0 ))" >> "$CSV"
    run "oneshot-$scorer" "$sp" --set train.epochs="$FINETUNE" --set train.init_from="\"$OUT/prune-$scorer-$sp/pruned.pt\"" \
      --set sparse.method=oneshot --set sparse.sparsity="$sp" --set schedule.warmup_epochs=0 --set optimizer.lr=0.01
  done
  run gmp "$sp" --set sparse.method=gmp --set sparse.sparsity="$sp" --set sparse.update_every=50
  run gap "$sp" --set sparse.method=gap --set sparse.sparsity="$sp" --set sparse.gap_epochs=0.25 --set sparse.gap_partitions=4
  if [ "$WORKERS" -ge 4 ]; then  # parallel GaP: worker w grows partition w mod 4, all at once
    run gap-parallel "$sp" --set sparse.method=gap --set sparse.gap_mode=parallel --set sparse.sparsity="$sp" \
      --set sparse.gap_epochs=0.25 --set sparse.gap_partitions=4
  fi
  run rigl "$sp" --set sparse.method=rigl --set sparse.sparsity="$sp" --set sparse.allocation=erk
  run set "$sp" --set sparse.method=set --set sparse.sparsity="$sp" --set sparse.allocation=erk
done

# N:M: SR-STE (λ_W = 2e-4) vs plain STE (λ_W = 0), 2:4 and 1:4; SAD per log line into sad.csv.
SAD="$OUT/sad.csv"
echo "pattern,lambda,step,sad" > "$SAD"
for nm in "2 4" "1 4"; do
  set -- $nm
  for lam in 0.0002 0; do
    name="srste-$1of$2-l$lam"
    run "$name" "$(/usr/bin/python3 -c "print(1-$1/$2)")" --set sparse.method=srste --set sparse.pattern=n:m \
      --set sparse.n="$1" --set sparse.m="$2" --set sparse.srste_lambda="$lam" --set train.log_every=50
    /usr/bin/python3 - "$OUT/$name-$(/usr/bin/python3 -c "print(1-$1/$2)")" "$1:$2" "$lam" >> "$SAD" <<'PY'
import json, sys
for l in open(sys.argv[1] + "/metrics.jsonl"):
    r = json.loads(l)
    if r.get("event") == "train" and "sad" in r:
        print(f'{sys.argv[2]},{sys.argv[3]},{r["step"]},{r["sad"]:.6f}')
PY
  done
done

/usr/bin/python3 - "$CSV" "$SAD" "$WORKERS" <<'PY'
import csv, sys, collections
rows = list(csv.DictReader(open(sys.argv[1])))
table = collections.OrderedDict()
sps = []
for r in rows:
    sp = float(r["sparsity"])
    table.setdefault(r["method"], {})[sp] = float(r["test_accuracy"]) * 100
    if sp not in sps and not r["method"].startswith("srste") and r["method"] != "dense":
        sps.append(sp)
dense = table.get("dense", {}).get(0.0)
print(f"\nFashion-MNIST LeNet-5, {sys.argv[3]} worker(s): test accuracy (%) vs sparsity; dense = {dense:.2f}")
print("method".ljust(26) + "".join(f"{int(round(s*100))}%".rjust(9) for s in sps))
for m, v in table.items():
    if m == "dense" or m.startswith("srste"):
        continue
    print(m.ljust(26) + "".join((f"{v[s]:.2f}" if s in v else "-").rjust(9) for s in sps))
print("\nN:M (SR-STE λ_W = 2e-4 vs plain STE λ_W = 0), mean SAD per log interval:")
sad = collections.defaultdict(list)
for r in csv.DictReader(open(sys.argv[2])):
    sad[(r["pattern"], r["lambda"])].append(float(r["sad"]))
for m, v in table.items():
    if m.startswith("srste"):
        nm = m.split("-")[1].replace("of", ":")
        lam = m.split("-l")[1]
        s = sad.get((nm, lam), [0])
        print(f"{nm} λ_W={lam}".ljust(26) + f"{list(v.values())[0]:.2f}%   SAD first/last interval {s[0]:.4f} / {s[-1]:.4f}")
print(f"\nCSV: {sys.argv[1]}, {sys.argv[2]}")
PY
