#!/usr/bin/env sh
# Install Debian's chromium for the headless browser test of the HTML report
# (tests/reporting/test_browser.py), with a font so that screenshots show text.
# Does nothing when chromium is already on PATH.
# Needs root (or passwordless sudo) on a Debian/Ubuntu image.
set -eu

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install_chromium.sh: chromium is missing and this user cannot run apt-get (not root, no sudo)" >&2
    exit 1
fi

$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
$SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null

if ! command -v chromium >/dev/null 2>&1; then
    echo "install_chromium.sh: apt-get finished but chromium is still not on PATH" >&2
    exit 1
fi
