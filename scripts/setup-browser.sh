#!/usr/bin/env bash
# Installs Debian's Chromium for test/browser/ (the kernel tests run in a headless page as well as in
# Node), idempotently. No browser can be downloaded here, so the tests drive this one through
# playwright-core with executablePath /usr/bin/chromium. fonts-liberation: Chromium recommends it
# (install_packages skips recommends) and a minimal image may have no font at all; the test pages
# need none to compute, but a font keeps page text and screenshots usable when debugging.
# Chromium reaches lavapipe through ANGLE's Vulkan backend, so
# scripts/setup-vulkan.sh must have run too (`npm run setup` runs both).
set -euo pipefail

source "$(dirname "$0")/lib/install-packages.sh"
install_packages setup-browser "the kernel tests in headless Chromium" chromium fonts-liberation || exit 0
[[ -x /usr/bin/chromium ]] || { echo "setup-browser: chromium installed but /usr/bin/chromium is missing" >&2; exit 1; }
echo "setup-browser: done ($(/usr/bin/chromium --version 2>/dev/null || echo 'chromium --version failed'))."
