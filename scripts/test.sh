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

# The web-replica test runs deploy/Caddyfile with a real Caddy in front of two web processes.
if ! command -v caddy >/dev/null; then
  echo "Installing Debian's caddy for the web-replica test…"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q caddy >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q caddy >/dev/null; }
fi

# The camera tests stream real video from GStreamer's RTSP server (H.264 made from photos), run by
# Debian's python3 with PyGObject. Installed here when missing.
if ! /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null \
   || ! command -v gst-inspect-1.0 >/dev/null || ! gst-inspect-1.0 x264enc >/dev/null 2>&1; then
  echo "Installing GStreamer's RTSP server for the camera tests…"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  packages="python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools gstreamer1.0-plugins-base
            gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly"
  # shellcheck disable=SC2086
  $sudo apt-get install -y -q --no-install-recommends $packages >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q --no-install-recommends $packages >/dev/null; }
fi

# The page walk checks accessibility with axe-core, from the npm registry (pinned in package-lock.json).
if [ ! -f tests/browser_tools/node_modules/axe-core/axe.min.js ]; then
  command -v npm >/dev/null || { echo "npm is needed for the accessibility checks (Debian: apt-get install npm)." >&2; exit 1; }
  echo "Installing axe-core for the browser tests…"
  npm ci --prefix tests/browser_tools --no-audit --no-fund >/dev/null
fi

exec .venv/bin/python -m pytest "$@"
