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

exec .venv/bin/python -m pytest "$@"
