#!/usr/bin/env bash
# Web benchmark: p50/p95 latency of the merchant dashboard, campaign list, campaign statistics
# and the admin review queue under CONNECTIONS concurrent clients (wrk), served by gunicorn on
# a random 127.0.0.1 port, against a database seeded by `manage.py bench_web_seed`. Everything
# runs with the bench settings (smsmarketing.settings_bench: the production settings plus the
# development-only bench app, whose commands seed the database).
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/sms_bench bench/web.sh
#
# Environment: MESSAGES (1000000), REVIEWS (10000), CONNECTIONS (20), DURATION (20s),
# WORKERS (gunicorn workers, 4), THREADS (wrk threads, 2), CACHE_URL (the production setting:
# the workers share one Redis; default redis://127.0.0.1:6379/0 when a Redis answers there,
# CACHE_URL= (empty) for per-process memory), COLD (1: the cache is flushed before every request,
# as after a deploy or a Redis restart: smsmarketing.settings_bench_cold, bench.middleware),
# SEED (0: reuse the database as it is, seeded by an earlier run; its URLs and cookies are
# printed again). Needs `wrk` (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=smsmarketing.settings_bench
: "${DATABASE_URL:?set DATABASE_URL to a dedicated benchmark database (e.g. sms_bench)}"
MESSAGES=${MESSAGES:-1000000} REVIEWS=${REVIEWS:-10000} CONNECTIONS=${CONNECTIONS:-20}
DURATION=${DURATION:-20s} WORKERS=${WORKERS:-4} THREADS=${THREADS:-2} COLD=${COLD:-0}
PY=.venv/bin/python
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
if [ -z "${CACHE_URL+set}" ] && $PY -c 'import socket; socket.create_connection(("127.0.0.1", 6379), 1)' 2>/dev/null; then
  CACHE_URL=redis://127.0.0.1:6379/0
fi
export CACHE_URL=${CACHE_URL:-}

# Seeding adds MESSAGES rows each run: use a fresh database for comparable figures.
seed=$(mktemp)
if [ "${SEED:-1}" = 0 ]; then
  $PY manage.py bench_web_seed --reuse > "$seed"
else
  $PY manage.py bench_web_seed --messages "$MESSAGES" --reviews "$REVIEWS" > "$seed"
fi
# shellcheck disable=SC1090
source "$seed"; rm -f "$seed"

$PY manage.py collectstatic --noinput --verbosity 0  # WhiteNoise serves the hashed names

PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SERVED=smsmarketing.settings_bench
if [ "$COLD" = 1 ]; then SERVED=smsmarketing.settings_bench_cold; fi  # cache.clear() before every request
DJANGO_SETTINGS_MODULE=$SERVED .venv/bin/gunicorn smsmarketing.wsgi:application -b "127.0.0.1:$PORT" -w "$WORKERS" --log-level warning \
  2>"${TMPDIR:-/tmp}/bench-web-gunicorn.log" &
GUNICORN=$!
trap 'kill -TERM $GUNICORN 2>/dev/null; wait $GUNICORN 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/accounts/login/" 2>/dev/null && break
  sleep 0.3
done

echo "gunicorn -w $WORKERS on 127.0.0.1:$PORT; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; $(nproc) cores; cache: ${CACHE_URL:-per process}$(if [ "$COLD" = 1 ]; then echo ', flushed before every request'; fi); $(date -u +%H:%M) UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)"
# CPU time of the gunicorn workers (utime + stime, clock ticks): divided by the requests of a page
# it is the app's CPU per request, the figure that does not depend on a busy machine's neighbours.
ticks() { local t=0 p; for p in $(pgrep -P "$GUNICORN"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
bench() {  # name, path, cookie
  local out t0 n
  # Warm up (templates, connections), then measure. --timeout 10s: with wrk's default (2 s) answers
  # slower than that are left out of the latency figures (p50=0.0ms when all of them were).
  wrk -t1 -c2 -d2s -H "Cookie: sessionid=$3" "http://127.0.0.1:$PORT$2" >/dev/null
  t0=$(ticks)
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s bench/latency.lua \
        -H "Cookie: sessionid=$3" "http://127.0.0.1:$PORT$2" | grep '^RESULT')
  n=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$out")
  printf '%-18s %-34s %s load=%s app_cpu_per_request=%sms\n' "$1" "$2" "${out#RESULT }" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$(awk -v t=$(( $(ticks) - t0 )) -v n="$n" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f", n ? t * 1000 / hz / n : 0 }')"
}
bench dashboard "$PAGE_DASHBOARD" "$MERCHANT_COOKIE"
bench campaigns "$PAGE_CAMPAIGNS" "$MERCHANT_COOKIE"
bench statistics "$PAGE_STATISTICS" "$MERCHANT_COOKIE"
bench review-queue "$PAGE_REVIEW_QUEUE" "$REVIEWER_COOKIE"
