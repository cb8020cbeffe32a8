#!/usr/bin/env bash
# Installs the benchmarks' PyTorch anchor, idempotently: Debian's python3-torch, and OpenBLAS so that
# it does not run on the netlib reference BLAS that libblas.so.3 resolves to on a fresh machine; and that
# reference BLAS itself (libblas3, lower priority, so OpenBLAS stays the default), which `bench:train --traps`
# measures as the PyTorch a fresh machine gives.
# (bench/lib/pytorch-anchor.ts then picks OpenBLAS's core type and threads, and reports them.)
set -euo pipefail

source "$(dirname "$0")/lib/install-packages.sh"
install_packages setup-bench "the benchmarks' PyTorch anchor" python3-torch libopenblas0-pthread libblas3 || exit 0
/usr/bin/python3 -c 'import torch' || { echo "setup-bench: python3-torch installed but /usr/bin/python3 cannot import torch" >&2; exit 1; }
echo "setup-bench: done (torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'))."
