#!/usr/bin/env bash
# Issue 14's tables: Byzantine-robust training of LeNet-5 on Fashion-MNIST, in-process workers.
#
#   bash bench/repro/robust_table.sh              # both tables (defaults: about 55 minutes on 2 cores)
#   TABLE=central bash bench/repro/robust_table.sh
#   TABLE=gossip  bash bench/repro/robust_table.sh
#
# Central: 10 workers averaging (parallel SGD with worker momentum 0.9, the centered-clipping
# paper's setting), the last f of them attacking; every attack x every aggregator, next to the
# clean run of the same aggregator. Gossip: 16 workers on a ring (and a torus with
# TOPOLOGIES="ring torus"), D-SGD with momentum 0.9, 2 attackers (GOSSIP_ATTACKERS, default [7,8]:
# adjacent, so that the honest workers stay connected on a ring; [3,11] splits the ring into two
# honest arcs joined only through attackers); plain gossip
# (the W-weighted mean) vs ClippedGossip vs neighbourhood median / trimmed mean.
# Each row: final test accuracy of the honest workers' mean model, the Byzantine share of the
# aggregates (rank 0's view, last log window), messages rejected, workers evicted, wall time.
# A run that diverges is reported as "diverged" (the trainer's own NaN-loss check).
#
# Knobs: EPOCHS (2), FS ("3"; the table of the issue is "1 2 3"), PARTITIONS ("iid"; add
# "dirichlet" for alpha = 0.3), TOPOLOGIES ("ring"), ATTACKS, AGGREGATORS, GOSSIP_RULES,
# RADIUS (centered clipping's tau, 10), LR (0.1), OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
GOSSAMER=${GOSSAMER:-build/bin/gossamer}
TABLE=${TABLE:-both}
EPOCHS=${EPOCHS:-2}
FS=${FS:-3}
PARTITIONS=${PARTITIONS:-iid}
TOPOLOGIES=${TOPOLOGIES:-ring}
ATTACKS=${ATTACKS:-none sign-flip alie ipm label-flip gaussian scaled}
AGGREGATORS=${AGGREGATORS:-mean median trimmed-mean krum multi-krum geomed cc nnm-cc safeguard}
GOSSIP_ATTACKS=${GOSSIP_ATTACKS:-none sign-flip alie ipm dissensus label-flip gaussian}
GOSSIP_RULES=${GOSSIP_RULES:-mean clipped-gossip median}
GOSSIP_ATTACKERS=${GOSSIP_ATTACKERS:-[7,8]}
# robust.f for gossip: the most attackers one worker neighbours (ring with [7,8]: 1; a 4x4 torus
# with [7,8]: 2, rank 4 neighbours both). ClippedGossip's adaptive radius leaves all but f unclipped.
GOSSIP_F=${GOSSIP_F:-1}
RADIUS=${RADIUS:-10.0}
LR=${LR:-0.1}
OUT=${OUT:-runs/repro/robust}
[ -x "$GOSSAMER" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
mkdir -p "$OUT"
CSV="$OUT/robust.csv"
[ -f "$CSV" ] || echo "table,partition,f,topology,attack,aggregator,test_accuracy,byzantine_share,rejected,evicted,wall_s" > "$CSV"

summary() { /usr/bin/python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
ev = [r for r in rows if r.get("event") == "eval"][-1]
tr = [r for r in rows if r.get("event") == "train"]
share = tr[-1].get("robust/byzantine_share", 0.0) if tr else 0.0
rejected = sum(r.get("robust/rejected", 0.0) for r in tr)
evicted = tr[-1].get("robust/excluded", 0.0) if tr else 0.0
print(f'{ev["test_accuracy"]:.4f},{share:.3f},{rejected:.0f},{evicted:.0f},{ev["wall_s"]:.1f}')
PY
}
# aggregator name -> config overrides
rule_args() {
  case "$1" in
    nnm-cc) echo "--set robust.aggregator=\"cc\" --set robust.pre=\"nnm\" --set robust.radius=$RADIUS" ;;
    cc) echo "--set robust.aggregator=\"cc\" --set robust.radius=$RADIUS" ;;
    *) echo "--set robust.aggregator=\"$1\"" ;;
  esac
}
run() {  # run TABLE PARTITION F TOPOLOGY ATTACK RULE overrides...
  local table=$1 part=$2 f=$3 topo=$4 attack=$5 rule=$6; shift 6
  local row="$table-$part-f$f-$topo-$attack-$rule"
  [ "$table" = gossip ] && row="$row-$(echo "$GOSSIP_ATTACKERS" | tr -d '[] ' | tr , _)"
  local dir="$OUT/$row"
  if grep -q "^$table,$part,$f,$topo,$attack,$rule," "$CSV"; then return 0; fi  # done in an earlier call
  echo "[robust] $row ..." >&2
  # shellcheck disable=SC2046
  if "$GOSSAMER" train examples/robust_cc.toml --set output.dir="\"$dir\"" --set train.epochs="$EPOCHS" \
      --set output.progress=off --set train.log_every=20 --set optimizer.lr="$LR" \
      --set data.partition="\"$part\"" --set data.dirichlet_alpha=0.3 --set robust.f="$f" \
      $(rule_args "$rule") "$@" > "$dir.log" 2>&1; then
    echo "$table,$part,$f,$topo,$attack,$rule,$(summary "$dir")" >> "$CSV"
  elif grep -q "loss became" "$dir.log"; then
    echo "[robust] $row diverged: $(grep -o 'loss became.*at step [0-9]*' "$dir.log" | head -1)" >&2
    echo "$table,$part,$f,$topo,$attack,$rule,diverged,,,," >> "$CSV"
  else
    echo "[robust] $row failed: $(tail -1 "$dir.log")" >&2
    echo "$table,$part,$f,$topo,$attack,$rule,failed,,,," >> "$CSV"
  fi
}
attack_args() {  # attack_args KIND RANKS
  if [ "$1" = none ]; then echo "--set attack.kind=\"none\" --set attack.ranks=[]"; else echo "--set attack.kind=\"$1\" --set attack.ranks=$2"; fi
}

if [ "$TABLE" = both ] || [ "$TABLE" = central ]; then
  for part in $PARTITIONS; do
    for f in $FS; do
      ranks="[$(seq -s, $((10 - f)) 9)]"
      for rule in $AGGREGATORS; do
        for attack in $ATTACKS; do
          # shellcheck disable=SC2046
          run central "$part" "$f" all-to-all "$attack" "$rule" $(attack_args "$attack" "$ranks")
        done
      done
    done
  done
fi
if [ "$TABLE" = both ] || [ "$TABLE" = gossip ]; then
  for topo in $TOPOLOGIES; do
    for rule in $GOSSIP_RULES; do
      for attack in $GOSSIP_ATTACKS; do
        # shellcheck disable=SC2046
        run gossip iid "$GOSSIP_F" "$topo" "$attack" "$rule" --set cluster.workers=16 --set cluster.topology="\"$topo\"" \
          --set optimizer.algorithm=\"dsgd\" --set optimizer.momentum=0.9 --set robust.worker_momentum=0 \
          --set train.batch_size=16 $(attack_args "$attack" "$GOSSIP_ATTACKERS")
      done
    done
  done
fi

/usr/bin/python3 - "$CSV" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for table in ("central", "gossip"):
    sel = [r for r in rows if r["table"] == table]
    if not sel: continue
    keys = sorted({(r["partition"], r["f"], r["topology"]) for r in sel})
    for part, f, topo in keys:
        cell = {(r["aggregator"], r["attack"]): r for r in sel if (r["partition"], r["f"], r["topology"]) == (part, f, topo)}
        rules = list(dict.fromkeys(r["aggregator"] for r in sel))
        attacks = list(dict.fromkeys(r["attack"] for r in sel))
        print(f"\n{table}: partition {part}, f = {f}, topology {topo} - test accuracy % of the honest mean model")
        print(f"{'aggregator':<14}" + "".join(f"{a:>12}" for a in attacks))
        for g in rules:
            line = f"{g:<14}"
            for a in attacks:
                r = cell.get((g, a))
                v = r["test_accuracy"] if r else ""
                line += f"{(f'{100 * float(v):.2f}' if v not in ('', 'diverged', 'failed') else v or '-'):>12}"
            print(line)
PY
echo "csv: $CSV"
