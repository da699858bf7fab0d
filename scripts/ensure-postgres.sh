#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries (initdb, pg_ctl) exist; installs them if allowed.
set -euo pipefail
if [ -n "${TRIS_TEST_POSTGRES_URL:-}" ]; then
  exit 0
fi
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
echo "PostgreSQL server binaries not found; installing the Debian package 'postgresql'..." >&2
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }
else
  echo "error: PostgreSQL is not installed and cannot be installed automatically." >&2
  echo "Install it (e.g. 'apt-get install -y postgresql') or set TRIS_TEST_POSTGRES_URL." >&2
  exit 1
fi
