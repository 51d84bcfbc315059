#!/usr/bin/env bash
# Serve the app: the django-q2 cluster in the background, gunicorn in front.
# Ctrl-C or SIGTERM stops both. Only the two main processes are signalled: each
# stops its own children (a SIGTERM to every django-q2 process at once can leave
# its main process waiting forever on a dead child).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PORT=${PORT:-8000}
QPID= GPID=
stop() {
  trap - EXIT INT TERM
  for pid in $GPID $QPID; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 40); do
    alive=0
    for pid in $GPID $QPID; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in $GPID $QPID; do pkill -KILL -P "$pid" 2>/dev/null || true; kill -KILL "$pid" 2>/dev/null || true; done
}
trap stop EXIT INT TERM
"$PY" manage.py qcluster &
QPID=$!
echo "Serving on http://127.0.0.1:$PORT/  (admin: http://127.0.0.1:$PORT/admin/)"
"$(dirname "$PY")/gunicorn" smsmarketing.wsgi:application \
  --bind "127.0.0.1:$PORT" --workers "${WEB_WORKERS:-2}" --access-logfile - &
GPID=$!
wait "$GPID"
