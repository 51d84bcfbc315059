#!/usr/bin/env bash
# Install Kannel (bearerbox, smsbox) from Debian's packages, idempotently.
# Debian's init-script service is never started: it would bind the default
# admin port on every interface. start.sh runs the boxes with our own config.
set -euo pipefail
if command -v bearerbox >/dev/null 2>&1 || [ -x /usr/sbin/bearerbox ]; then
  if [ -x /usr/sbin/smsbox ] || command -v smsbox >/dev/null 2>&1; then
    echo "kannel: already installed ($(dpkg-query -W -f='${Version}' kannel 2>/dev/null || echo '?'))"
    exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "kannel: apt-get not found; install the Debian packages kannel and kannel-extras by hand" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Keep the package's postinst from starting the service (only while we install).
policy_added=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  policy_added=1
fi
cleanup() { if [ -n "$policy_added" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q kannel kannel-extras; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q kannel kannel-extras
fi
echo "kannel: installed $(dpkg-query -W -f='${Version}' kannel)"
