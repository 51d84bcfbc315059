#!/usr/bin/env bash
# Serve the app: the django-q2 cluster in the background, gunicorn in front.
# Ctrl-C (or SIGTERM) stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PORT=${PORT:-8000}
"$PY" manage.py qcluster &
QPID=$!
trap 'kill $QPID 2>/dev/null; wait $QPID 2>/dev/null' EXIT INT TERM
echo "Serving on http://127.0.0.1:$PORT/  (admin: http://127.0.0.1:$PORT/admin/)"
"$(dirname "$PY")/gunicorn" smsmarketing.wsgi:application \
  --bind "127.0.0.1:$PORT" --workers "${WEB_WORKERS:-2}" --access-logfile - &
GPID=$!
trap 'kill $GPID $QPID 2>/dev/null; wait $GPID $QPID 2>/dev/null' EXIT INT TERM
wait $GPID
