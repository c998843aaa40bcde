#!/usr/bin/env bash
# Installs Debian's chromium for the console's browser tests
# (interop/console_test.go) when no Chromium or Chrome is on PATH. It needs
# apt-get and root (or sudo); CI runs as root on a fresh Debian. Set
# HALLMARK_CHROMIUM to a browser binary to skip the install.
set -euo pipefail

if [[ -n "${HALLMARK_CHROMIUM:-}" ]]; then
  exit 0
fi
for b in chromium chromium-browser google-chrome google-chrome-stable headless-shell; do
  if command -v "$b" >/dev/null 2>&1; then
    exit 0
  fi
done
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium.sh: no chromium on PATH and no apt-get to install it; set HALLMARK_CHROMIUM" >&2
  exit 1
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-chromium.sh: installing chromium needs root (or sudo)" >&2
    exit 1
  fi
  sudo="sudo"
fi
echo "install-chromium.sh: installing Debian's chromium for the console's browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium >/dev/null
