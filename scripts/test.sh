#!/usr/bin/env bash
# Runs the whole test suite against this machine's Redis and PostgreSQL.
# Called by `make test` (and by .ci/run through it). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

require() {  # host port name
  if ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then
    echo "$3 is not reachable at $1:$2; the tests need it running (see README, Tests)." >&2
    exit 1
  fi
}
require 127.0.0.1 6379 Redis
require 127.0.0.1 5432 PostgreSQL

# The browser tests drive Debian's Chromium through Playwright (never `playwright install`).
if [ ! -x /usr/bin/chromium ]; then
  echo "Installing Debian's chromium for the browser tests…"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q chromium >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium >/dev/null; }
fi

exec .venv/bin/python -m pytest "$@"
