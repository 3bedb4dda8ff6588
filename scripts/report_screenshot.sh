#!/usr/bin/env bash
# The README's picture of a report (docs/img/report.png), made by the project's own commands: two
# short runs that differ in cluster.topology (8 gossiping workers, a GMP-pruned MLP on 8192 images,
# about 10 s for both on 2 cores), `gossamer report` of both, and headless Chromium's screenshot of
# the page's top.
#
#   bash scripts/report_screenshot.sh [OUT.png]     (needs build/bin/gossamer, chromium, libjs-chart.js)
set -euo pipefail
cd "$(dirname "$0")/.."
GOSSAMER=${GOSSAMER:-build/bin/gossamer}
OUT=${1:-docs/img/report.png}
WORK=${WORK:-$(mktemp -d /tmp/gossamer_report_shot.XXXXXX)}
for tool in "$GOSSAMER" chromium; do
  command -v "$tool" >/dev/null || { echo "report_screenshot: $tool not found (build, or scripts/install_deps.sh)" >&2; exit 2; }
done

for topology in ring exponential; do
  "$GOSSAMER" train examples/fashion_lenet.toml \
    --set model.name=mlp --set 'model.hidden=[128]' \
    --set data.train_limit=8192 --set data.test_limit=2000 \
    --set train.epochs=4 --set train.batch_size=32 --set train.log_every=2 \
    --set cluster.workers=8 --set optimizer.algorithm=dsgd --set cluster.topology="$topology" \
    --set sparse.method=gmp --set sparse.sparsity=0.9 --set sparse.update_every=8 \
    --set output.progress=off --set output.dir="\"$WORK/$topology\""
done
"$GOSSAMER" report "$WORK/ring" "$WORK/exponential" -o "$WORK/report.html" --title "Gossamer report: ring against exponential, 8 workers"

# The page's top (the runs, the training curves, communication and the first topology): 1280 x 990
# CSS px at 0.85 px each, which keeps the PNG under 150 kB with its text readable.
mkdir -p "$(dirname "$OUT")"
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
  --user-data-dir="$WORK/chromium-profile" --force-device-scale-factor=0.85 --window-size=1280,990 \
  --virtual-time-budget=5000 --screenshot="$OUT" "file://$WORK/report.html" 2>/dev/null
echo "report_screenshot: wrote $OUT ($(stat -c %s "$OUT") bytes) from $WORK/report.html"
