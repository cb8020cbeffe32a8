# Sourced by the setup scripts. install_packages NAME WHY PACKAGE...: installs the Debian packages
# that are missing, idempotently; returns 1 when all were installed already (nothing to check
# afterwards); without root or apt-get it prints the command to run and exits 1.
install_packages() {
  local name=$1 why=$2
  shift 2
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "$name: installed already: $*."
    return 1
  fi
  local command="apt-get install -y --no-install-recommends ${missing[*]}"
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "$name: $why needs ${missing[*]}. Run as root:" >&2
    echo "  apt-get update && $command" >&2
    exit 1
  fi
  echo "$name: installing ${missing[*]}..."
  # Update the lists only when apt cannot find a package (a fresh machine has none yet).
  apt-cache show "${missing[@]}" >/dev/null 2>&1 || apt-get update
  # Called as `install_packages ... || exit 0`, where set -e does not apply: fail explicitly.
  DEBIAN_FRONTEND=noninteractive $command || { echo "$name: '$command' failed" >&2; exit 1; }
  return 0
}
