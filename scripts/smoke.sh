#!/usr/bin/env bash
# Start the run command on a spare port, check the login page and the admin
# answer 200, then stop everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${SMOKE_PORT:-18765}
LOG=$(mktemp)
setsid make run PORT="$PORT" >"$LOG" 2>&1 &
RUN_PID=$!
running() {  # make run has not exited (a zombie waiting for `wait` has)
  local state
  state=$(ps -o stat= -p "$RUN_PID" 2>/dev/null) || return 1
  [[ $state != Z* ]]
}
cleanup() {
  # Ctrl-C, as a terminal sends it: SIGINT to make's process group. honcho stops gunicorn and
  # the django-q2 cluster (each in a process group of its own) and make exits with it.
  kill -INT -- -"$RUN_PID" 2>/dev/null || true
  for _ in $(seq 1 30); do running || break; sleep 0.5; done
  if running; then
    echo "smoke: make run still running 15 s after Ctrl-C; run log:"; cat "$LOG"
    kill -KILL -- -"$RUN_PID" 2>/dev/null || true
    "${PY:-.venv/bin/python}" -m smsmarketing.embedded_db status
    exit 1
  fi
  wait "$RUN_PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 120); do
  if curl -fs -o /dev/null "http://127.0.0.1:$PORT/accounts/login/"; then break; fi
  sleep 1
done
ok=0
for path in /accounts/login/ /admin/login/; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$path")
  echo "smoke: GET $path -> $code"
  [ "$code" = 200 ] || ok=1
done
if [ "$ok" != 0 ]; then echo "smoke: FAILED; run log:"; cat "$LOG"; exit 1; fi
# The django-q2 cluster must really run a task enqueued through the ORM broker.
"${PY:-.venv/bin/python}" manage.py shell -c "
import time, uuid
from django_q.tasks import async_task, result
token = uuid.uuid4().hex
task_id = async_task('smsmarketing.tasks.ping', token)
for _ in range(60):
    if result(task_id) == 'pong:' + token:
        print('smoke: django-q2 ran task', task_id)
        break
    time.sleep(0.5)
else:
    raise SystemExit('smoke: django-q2 cluster did not run the task')
" || { echo "smoke: FAILED; run log:"; cat "$LOG"; exit 1; }
echo "smoke: OK"
