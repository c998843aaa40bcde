#!/bin/sh
# Installs SoftHSM2 (Debian package softhsm2) for the PKCS#11 signer tests.
# Needs root and apt; idempotent.
set -eu
if command -v softhsm2-util >/dev/null 2>&1 && [ -e /usr/lib/softhsm/libsofthsm2.so ]; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq softhsm2 >/dev/null
