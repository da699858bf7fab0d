#!/usr/bin/env bash
# Makes sure Debian's Chromium exists for the browser tests; installs it if allowed.
# (Playwright drives this browser through its `executable_path`; nothing is downloaded.)
set -euo pipefail
CHROMIUM="${TRIS_CHROMIUM:-/usr/lib/chromium/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
echo "Chromium not found at $CHROMIUM; installing the Debian package 'chromium'..." >&2
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null \
    || { apt-get update -q >/dev/null \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; }
else
  echo "error: Chromium is not installed and cannot be installed automatically." >&2
  echo "Install it (e.g. 'apt-get install -y --no-install-recommends chromium') or set TRIS_CHROMIUM." >&2
  exit 1
fi
