#!/usr/bin/env bash
# Installs what scripts/netns-cluster.sh (and the tests that stand in for several machines with
# network namespaces) needs, idempotently: iproute2 (`ip`, `tc`), and procps (`ps`, which the tests'
# leftover-process checks read). A minimal Debian image lacks both (their priority is "important",
# not "required"); nsenter and flock come with util-linux, which every Debian system has.
set -euo pipefail

packages=(iproute2 procps)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup-cluster: installed already: ${packages[*]}."
  exit 0
fi
command="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "setup-cluster: the network-namespace tests need ${missing[*]}. Run as root:" >&2
  echo "  apt-get update && $command" >&2
  exit 1
fi
echo "setup-cluster: installing ${missing[*]}..."
# Update the lists only when apt cannot find a package (a fresh machine has none yet).
apt-cache show "${missing[@]}" >/dev/null 2>&1 || apt-get update
DEBIAN_FRONTEND=noninteractive $command
command -v tc >/dev/null || { echo "setup-cluster: iproute2 installed but tc is not on PATH" >&2; exit 1; }
command -v ps >/dev/null || { echo "setup-cluster: procps installed but ps is not on PATH" >&2; exit 1; }
echo "setup-cluster: done ($(ip -V))."
