#!/usr/bin/env bash
# Install Debian's Chromium (the browser of the e2e tests, tests/e2e) and a CJK
# font (the portal is in Chinese; without one the screenshots show boxes),
# idempotently, from apt. Playwright never downloads a browser here: the tests
# launch /usr/bin/chromium (`playwright install` is never run).
set -euo pipefail
packages=(chromium chromium-driver fonts-noto-cjk)
missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -eq 0 ] && [ -x /usr/bin/chromium ]; then
  echo "chromium: already installed ($(dpkg-query -W -f='${Version}' chromium))"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: apt-get not found; install the Debian packages ${packages[*]} by hand" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q "${missing[@]}"; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q "${missing[@]}"
fi
echo "chromium: installed $(dpkg-query -W -f='${Version}' chromium)"
