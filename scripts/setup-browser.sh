#!/usr/bin/env bash
# Installs Debian's Chromium for test/browser/ (the kernel tests run in a headless page as well as in
# Node), idempotently. No browser can be downloaded here, so the tests drive this one through
# playwright-core with executablePath /usr/bin/chromium. fonts-liberation: a headless page that lays
# out any text still needs one font. Chromium reaches lavapipe through ANGLE's Vulkan backend, so
# scripts/setup-vulkan.sh must have run too (`npm run setup` runs both).
set -euo pipefail

source "$(dirname "$0")/lib/install-packages.sh"
install_packages setup-browser "the kernel tests in headless Chromium" chromium fonts-liberation || exit 0
[[ -x /usr/bin/chromium ]] || { echo "setup-browser: chromium installed but /usr/bin/chromium is missing" >&2; exit 1; }
echo "setup-browser: done ($(/usr/bin/chromium --version 2>/dev/null || echo 'chromium --version failed'))."
