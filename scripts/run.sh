#!/usr/bin/env bash
# Runs the whole service in the foreground: the web process (uvicorn: HTTP + websockets), the Celery
# workers (classify, training, sweeper + beat, alerts) and the camera capture service.
# Ctrl-C stops them all. Called by `make run`, which installs first.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
DEFAULT_REDIS=redis://127.0.0.1:6379/0

# Use the machine's Redis when it answers; otherwise the documented fallback.
if [ -z "${REDIS_URL+set}" ]; then
  if "$BIN/python" -c "import redis, sys; redis.Redis.from_url('$DEFAULT_REDIS', socket_connect_timeout=1).ping()" 2>/dev/null; then
    export REDIS_URL=$DEFAULT_REDIS
  else
    export REDIS_URL=""
    echo "No Redis answers at 127.0.0.1:6379: using the fallback (queue in var/broker," \
         "live pushes replaced by polling). Set REDIS_URL to use another Redis."
  fi
fi

# A debug page shows settings and paths: debug mode only ever serves this machine.
debug=$("$BIN/python" -c 'from classifier_site import settings as s; print(s.DEBUG)')
if [ "$debug" = "True" ] && ! [[ "$HOST" =~ ^(127\.[0-9.]+|localhost|::1|\[::1\])$ ]]; then
  echo "DJANGO_DEBUG is on: refusing to serve on $HOST. Debug pages show settings and paths;" \
       "serve on 127.0.0.1, or turn DJANGO_DEBUG off to serve other machines." >&2
  exit 1
fi

"$BIN/python" manage.py migrate --noinput
"$BIN/python" manage.py ensure_active_model
"$BIN/python" manage.py collectstatic --noinput --verbosity 0  # served by WhiteNoise with DEBUG off

pids=()
stop() {
  trap - INT TERM EXIT
  echo "Stopping…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap stop INT TERM EXIT

# A worker that dies (killed, out of memory) is started again, as compose's `restart: unless-stopped`
# does: the new one takes back what the dead one held (README, When a process dies). Stopping the
# service stops the loop and the worker it runs.
supervise() {
  local name=$1 child="" status
  shift
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; [ -n "$child" ] && wait "$child"; exit 0' INT TERM
  while :; do
    "$@" &
    child=$!
    status=0
    wait "$child" || status=$?
    echo "$(date '+%F %T') The $name worker exited ($status); starting it again in 1 s" >&2
    sleep 1
  done
}

read -r classify_queue training_queue alerts_queue sweeper_queue < <("$BIN/python" -c \
  'from classifier_site import settings as s; print(s.CELERY_TASK_DEFAULT_QUEUE, s.CELERY_TRAINING_QUEUE, s.CELERY_ALERTS_QUEUE, s.CELERY_SWEEPER_QUEUE)')
supervise classify "$BIN/celery" -A classifier_site worker --loglevel=INFO --hostname="classify@%h" --queues="$classify_queue" &
pids+=($!)
# Training runs in its own worker, one job at a time, a fresh process per job.
supervise training "$BIN/celery" -A classifier_site worker --loglevel=INFO --hostname="training@%h" --queues="$training_queue" \
  --concurrency=1 --max-tasks-per-child=1 &
pids+=($!)
# The sweeper has a queue and a one-process worker of its own, never behind the classify backlog it
# checks; it runs beat (-B), which starts it every CLASSIFIER_SWEEP_INTERVAL_SECONDS (15 s).
supervise sweeper "$BIN/celery" -A classifier_site worker --loglevel=INFO --hostname="sweeper@%h" --queues="$sweeper_queue" \
  --pool=solo -B --schedule="${VAR_DIR:-var}/celerybeat-schedule" &
pids+=($!)
# Alert deliveries wait on other people's servers: threads, in a worker of their own.
supervise alerts "$BIN/celery" -A classifier_site worker --loglevel=INFO --hostname="alerts@%h" --queues="$alerts_queue" \
  --pool=threads --concurrency=4 &
pids+=($!)
# The capture service watches the enabled cameras with no browser open (README, Cameras).
"$BIN/python" manage.py capture &
pids+=($!)
# HTTPS when TLS_CERT_FILE and TLS_KEY_FILE are given: browsers allow cameras only on HTTPS (or localhost).
scheme=http
if [ -n "${TLS_CERT_FILE:-}" ] && [ -n "${TLS_KEY_FILE:-}" ]; then
  scheme=https
fi
"$BIN/python" -m classifier_site.serve --host "$HOST" --port "$PORT" &
pids+=($!)

echo
echo "  Image classifier running at $scheme://$HOST:$PORT/   (Ctrl-C stops it)"
echo
# Whichever of the web process and capture ends first ends the service (workers are restarted); the trap stops the rest.
wait -n
