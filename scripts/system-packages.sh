#!/usr/bin/env bash
# Ensure the given Debian packages are installed.
#
#   scripts/system-packages.sh fonts-noto-cjk libharfbuzz-subset0 [chromium ...]
#
# Idempotent and quick when everything is present: dpkg is asked first and
# apt-get (including `apt-get update`) only runs for what is missing. As root the
# missing packages are installed; otherwise a message names them and the script
# exits 0, so that a developer without root can still run what does not need them.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 PACKAGE..." >&2
    exit 2
fi

missing=()
for pkg in "$@"; do
    # `dpkg -s` also succeeds for removed packages whose config files remain,
    # so look at the status itself.
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    if [ "$status" != "installed" ]; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    echo "system-packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "system-packages: WARNING: missing Debian packages: ${missing[*]}" >&2
    echo "system-packages: install them with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    echo "system-packages: continuing without them (PDF rendering may lack CJK fonts)." >&2
fi
