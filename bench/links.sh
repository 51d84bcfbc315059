#!/usr/bin/env bash
# Short-link benchmark: p50/p95/p99 latency and requests/s of GET /t/<code> (the redirect and
# its click insert) under CONNECTIONS concurrent clients (wrk), served by gunicorn on a random
# 127.0.0.1 port, against MESSAGES messages with codes seeded by `manage.py bench_links_seed`;
# each request taps another message's link. Runs with the bench settings
# (smsmarketing.settings_bench: the production settings plus the development-only bench app).
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/sms_bench bench/links.sh
#
# Environment: MESSAGES (1000000), CONNECTIONS (50), DURATION (20s), WORKERS (gunicorn workers,
# 4), THREADS (wrk threads, 2), THINKS ("1000 250 100 0": one wrk run per value, each of the
# CONNECTIONS clients waiting that many ms between an answer and its next tap; 0 is the saturation
# test). Needs `wrk` (apt-get install wrk). Each line also shows the click rows the run added
# (one per answered request, plus the requests in flight when wrk stopped).
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=smsmarketing.settings_bench
: "${DATABASE_URL:?set DATABASE_URL to a dedicated benchmark database (e.g. sms_bench)}"
MESSAGES=${MESSAGES:-1000000} CONNECTIONS=${CONNECTIONS:-50} DURATION=${DURATION:-20s}
WORKERS=${WORKERS:-4} THREADS=${THREADS:-2} THINKS=${THINKS:-1000 250 100 0}
export AGENT="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.40 NetType/WIFI Language/zh_CN"
PY=.venv/bin/python
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }

$PY -m smsmarketing.embedded_db  # creates the database of DATABASE_URL if it does not exist
$PY manage.py migrate --verbosity 0
CODES_FILE=$(mktemp)
export CODES_FILE
seed=$(mktemp)
$PY manage.py bench_links_seed --messages "$MESSAGES" --codes-file "$CODES_FILE" > "$seed"
# shellcheck disable=SC1090
source "$seed"; rm -f "$seed"
$PY manage.py collectstatic --noinput --verbosity 0

PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Threaded workers (gthread): a phone's connection waiting between taps must not hold a worker, as
# it would hold a sync worker (in production the proxy in front buffers requests instead).
.venv/bin/gunicorn smsmarketing.wsgi:application -b "127.0.0.1:$PORT" -w "$WORKERS" -k gthread --threads 4 \
  --log-level warning \
  2>"${TMPDIR:-/tmp}/bench-links-gunicorn.log" &
GUNICORN=$!
trap 'kill -TERM $GUNICORN 2>/dev/null; wait $GUNICORN 2>/dev/null || true; rm -f "$CODES_FILE"' EXIT
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
  sleep 0.3
done
clicks() {
  $PY manage.py shell -c "from campaigns.models import Click; print('CLICKS', Click.objects.filter(campaign_id=$CAMPAIGN_ID).count())" \
    2>/dev/null | sed -n 's/^CLICKS //p'
}
ticks() { local t=0 p; for p in $(pgrep -P "$GUNICORN"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }

echo "gunicorn -w $WORKERS -k gthread --threads 4 on 127.0.0.1:$PORT; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; $MESSAGES messages; $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M') UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm up, with every connection (each worker thread's database connection, ua-parser's rules, the landing policy).
THINK_MS=0 wrk -t"$THREADS" -c"$CONNECTIONS" -d5s -s bench/links.lua "http://127.0.0.1:$PORT" >/dev/null
for think in $THINKS; do
  before=$(clicks)
  t0=$(ticks)
  out=$(THINK_MS=$think wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s bench/links.lua \
        "http://127.0.0.1:$PORT" | grep '^RESULT')
  t1=$(ticks)
  after=$(clicks)
  n=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$out")
  printf 'think=%sms %s load=%s app_cpu_per_request=%sms clicks_recorded=%s\n' "$think" "${out#RESULT }" \
    "$(cut -d' ' -f1 /proc/loadavg)" \
    "$(awk -v t=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", n ? t * 1000 / hz / n : 0 }')" \
    "$((after - before))"
done
