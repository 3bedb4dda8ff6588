#!/usr/bin/env bash
# Installs everything Gossamer needs from Debian 12 packages (run as root). Idempotent: when all
# packages are present it changes nothing.
set -euo pipefail

PACKAGES=(
  g++ make cmake ccache            # toolchain (ccache makes rebuilds cheap)
  libtorch-dev                     # LibTorch 1.13.1 (CPU)
  libopenblas0-pthread             # fast BLAS for LibTorch (reference BLAS is ~15x slower)
  libgloo-dev                      # headers for c10d's Gloo backend (the library is in libtorch)
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev zlib1g-dev libhwy-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist            # /usr/share/datasets/fashion-mnist/*.gz
  python3-torch                    # the PyTorch peer used by bench/ (run with /usr/bin/python3)
  libjs-chart.js                   # Chart.js 3.9.1, inlined by `gossamer report` into its pages
  chromium                         # headless browser: the report's test and docs/img/report.png
  iproute2                         # `ip netns`: tests/netns/netns_cluster.sh (workers on separate "hosts")
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "[deps] all ${#PACKAGES[@]} Debian packages already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "[deps] missing packages: ${missing[*]}" >&2
  echo "[deps] run this script as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "[deps] installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "[deps] done"
