#!/usr/bin/env bash
# Installs a Vulkan driver that Dawn accepts, idempotently.
# Dawn needs Mesa >= 24 (bookworm's 22.3 lavapipe lacks shaderUniform*ArrayDynamicIndexing);
# bookworm-backports carries Mesa 25. On a machine with a real GPU driver only the loader is needed.
set -euo pipefail

MIN_MESA_MAJOR=24

mesa_major() {
  dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^([0-9]+:)?([0-9]+).*/\2/' || true
}

have_loader() { ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; }

good_driver() {
  local major
  major=$(mesa_major)
  [[ -n "$major" && "$major" -ge $MIN_MESA_MAJOR ]] && return 0
  # A vendor ICD (e.g. NVIDIA) also does.
  ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1
}

if have_loader && good_driver; then
  echo "setup-vulkan: Vulkan loader and a driver Dawn accepts are present (mesa-vulkan-drivers $(mesa_major 2>/dev/null || echo none))."
  exit 0
fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
commands=(
  "echo 'deb http://deb.debian.org/debian ${codename:-bookworm}-backports main' > /etc/apt/sources.list.d/backports.list"
  "apt-get update"
  "DEBIAN_FRONTEND=noninteractive apt-get install -y -t ${codename:-bookworm}-backports mesa-vulkan-drivers libvulkan1"
)

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "setup-vulkan: Dawn needs libvulkan1 and Mesa >= $MIN_MESA_MAJOR's lavapipe (or a GPU driver)." >&2
  echo "Run these as root:" >&2
  printf '  %s\n' "${commands[@]}" >&2
  exit 1
fi

echo "setup-vulkan: installing Mesa's lavapipe from ${codename:-bookworm}-backports..."
for c in "${commands[@]}"; do
  bash -c "$c"
done

if ! good_driver; then
  echo "setup-vulkan: mesa-vulkan-drivers is still older than $MIN_MESA_MAJOR after install; see the commands above." >&2
  exit 1
fi
echo "setup-vulkan: done (mesa-vulkan-drivers $(mesa_major))."
