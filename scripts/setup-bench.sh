#!/usr/bin/env bash
# Installs the benchmarks' PyTorch anchor, idempotently: Debian's python3-torch, and OpenBLAS so that
# it does not run on the netlib reference BLAS that libblas.so.3 resolves to on a fresh machine; and that
# reference BLAS itself (libblas3, lower priority, so OpenBLAS stays the default), which `bench:train --traps`
# measures as the PyTorch a fresh machine gives.
# (bench/lib/pytorch-anchor.ts then picks OpenBLAS's core type and threads, and reports them.)
set -euo pipefail

packages=(python3-torch libopenblas0-pthread libblas3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup-bench: ${packages[*]} are installed."
  exit 0
fi
command="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "setup-bench: the benchmarks' PyTorch anchor needs ${missing[*]}. Run as root:" >&2
  echo "  apt-get update && $command" >&2
  exit 1
fi
echo "setup-bench: installing ${missing[*]}..."
# Update the lists only when apt cannot find a package (a fresh machine has none yet).
apt-cache show "${missing[@]}" >/dev/null 2>&1 || apt-get update
DEBIAN_FRONTEND=noninteractive $command
/usr/bin/python3 -c 'import torch' || { echo "setup-bench: python3-torch installed but /usr/bin/python3 cannot import torch" >&2; exit 1; }
echo "setup-bench: done (torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'))."
