#!/usr/bin/env bash
# Start a local Kannel (bearerbox + smsbox) on 127.0.0.1 with our own config,
# and wait until its status page shows the SMPP SMSC online and the smsbox
# connected. Pid files in $KANNEL_RUN_DIR let stop.sh end exactly these boxes.
#
# Environment (defaults in brackets):
#   KANNEL_RUN_DIR [.kannel]     config, logs, pid files, message store
#   KANNEL_ADMIN_PORT [13900]    status/admin HTTP port
#   KANNEL_BOX_PORT [13901]      bearerbox <-> smsbox
#   KANNEL_SENDSMS_PORT [13913]  the sendsms HTTP interface the app uses
#   KANNEL_ADMIN_PASSWORD, KANNEL_SENDSMS_USER, KANNEL_SENDSMS_PASSWORD
#   KANNEL_SMSC_HOST [127.0.0.1], KANNEL_SMSC_PORT [12775]  the SMPP SMSC (simulator)
#   KANNEL_SMSC_SYSTEM_ID [kannel], KANNEL_SMSC_PASSWORD [kannel]
#   KANNEL_MO_URL                the app's inbound endpoint with Kannel placeholders
#                                [from `manage.py kannel_mo_url`, base KANNEL_APP_URL or http://127.0.0.1:8000]
#   KANNEL_DLR_DATABASE_URL      postgres://user:pass@host:port/db (or a Unix socket:
#                                postgresql://user@/db?host=/socket/folder): keep Kannel's delivery-report
#                                state in that database's kannel_dlr table (survives restarts)
#                                [unset: in bearerbox's memory]
#   KANNEL_LOG_LEVEL [1]         0 debug ... 4 panic
#   KANNEL_WAIT [20]             seconds to wait for the SMSC to come online
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RUN_DIR="$(mkdir -p "${KANNEL_RUN_DIR:-$ROOT/.kannel}" && cd "${KANNEL_RUN_DIR:-$ROOT/.kannel}" && pwd)"
ADMIN_PORT="${KANNEL_ADMIN_PORT:-13900}"
ADMIN_PASSWORD="${KANNEL_ADMIN_PASSWORD:-kannel-admin}"
PY="${PY:-$ROOT/.venv/bin/python}"

if [ -z "${KANNEL_MO_URL:-}" ]; then
  KANNEL_MO_URL="$(cd "$ROOT" && "$PY" manage.py kannel_mo_url --base-url "${KANNEL_APP_URL:-http://127.0.0.1:8000}")"
fi

find_box() { command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || true; }
BEARERBOX="$(find_box bearerbox)"
SMSBOX="$(find_box smsbox)"
if [ -z "$BEARERBOX" ] || [ -z "$SMSBOX" ]; then
  echo "kannel: not installed; run scripts/kannel/install.sh" >&2
  exit 1
fi

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if alive "$RUN_DIR/bearerbox.pid" || alive "$RUN_DIR/smsbox.pid"; then
  echo "kannel: already running in $RUN_DIR (scripts/kannel/stop.sh first)" >&2
  exit 1
fi

DLR_STORAGE=internal
if [ -n "${KANNEL_DLR_DATABASE_URL:-}" ]; then DLR_STORAGE=pgsql; fi
# sed replacement text: escape \, & and the | delimiter.
esc() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }
sed -e "s|@RUN_DIR@|$(esc "$RUN_DIR")|g" \
    -e "s|@ADMIN_PORT@|$(esc "$ADMIN_PORT")|g" \
    -e "s|@ADMIN_PASSWORD@|$(esc "$ADMIN_PASSWORD")|g" \
    -e "s|@BOX_PORT@|$(esc "${KANNEL_BOX_PORT:-13901}")|g" \
    -e "s|@SENDSMS_PORT@|$(esc "${KANNEL_SENDSMS_PORT:-13913}")|g" \
    -e "s|@SENDSMS_USER@|$(esc "${KANNEL_SENDSMS_USER:-smsmarketing}")|g" \
    -e "s|@SENDSMS_PASSWORD@|$(esc "${KANNEL_SENDSMS_PASSWORD:-smsmarketing}")|g" \
    -e "s|@SMSC_HOST@|$(esc "${KANNEL_SMSC_HOST:-127.0.0.1}")|g" \
    -e "s|@SMSC_PORT@|$(esc "${KANNEL_SMSC_PORT:-12775}")|g" \
    -e "s|@SMSC_SYSTEM_ID@|$(esc "${KANNEL_SMSC_SYSTEM_ID:-kannel}")|g" \
    -e "s|@SMSC_PASSWORD@|$(esc "${KANNEL_SMSC_PASSWORD:-kannel}")|g" \
    -e "s|@MO_URL@|$(esc "$KANNEL_MO_URL")|g" \
    -e "s|@LOG_LEVEL@|$(esc "${KANNEL_LOG_LEVEL:-1}")|g" \
    -e "s|@DLR_STORAGE@|$DLR_STORAGE|g" \
    "$ROOT/scripts/kannel/kannel.conf.in" > "$RUN_DIR/kannel.conf"
if [ -n "${KANNEL_DLR_DATABASE_URL:-}" ]; then
  PARSER="$PY"; [ -x "$PARSER" ] || PARSER=python3
  # host, port, user, password, database of the URL, one a line.
  mapfile -t DB < <("$PARSER" - "$KANNEL_DLR_DATABASE_URL" <<'PYEOF'
import sys
from urllib.parse import parse_qs, unquote, urlsplit
url = urlsplit(sys.argv[1])
query = {key: values[-1] for key, values in parse_qs(url.query).items()}
# libpq's socket form postgresql://user@/db?host=/socket/folder: Kannel hands host
# to libpq, which takes a folder as the Unix socket's (.s.PGSQL.<port> in it).
host = query.get("host") or unquote(url.hostname or "") or "127.0.0.1"
for value in (host, query.get("port") or url.port or 5432, unquote(url.username or ""),
              unquote(url.password or ""), unquote(url.path.lstrip("/"))):
    print(value)
PYEOF
)
  sed -e "s|@DB_HOST@|$(esc "${DB[0]}")|g" -e "s|@DB_PORT@|$(esc "${DB[1]}")|g" \
      -e "s|@DB_USER@|$(esc "${DB[2]}")|g" -e "s|@DB_PASSWORD@|$(esc "${DB[3]}")|g" \
      -e "s|@DB_NAME@|$(esc "${DB[4]}")|g" \
      "$ROOT/scripts/kannel/kannel-dlr-pgsql.conf.in" >> "$RUN_DIR/kannel.conf"
fi
chmod 600 "$RUN_DIR/kannel.conf"

"$BEARERBOX" -v "${KANNEL_LOG_LEVEL:-1}" "$RUN_DIR/kannel.conf" >"$RUN_DIR/bearerbox.out" 2>&1 &
echo $! > "$RUN_DIR/bearerbox.pid"

STATUS_URL="http://127.0.0.1:$ADMIN_PORT/status.txt?password=$ADMIN_PASSWORD"
status() { curl -s --max-time 2 "$STATUS_URL" 2>/dev/null || true; }
deadline=$(( $(date +%s) + ${KANNEL_WAIT:-20} ))
smsbox_started=""
while :; do
  page="$(status)"
  if [ -z "$smsbox_started" ] && [ -n "$page" ]; then
    "$SMSBOX" -v "${KANNEL_LOG_LEVEL:-1}" "$RUN_DIR/kannel.conf" >"$RUN_DIR/smsbox.out" 2>&1 &
    echo $! > "$RUN_DIR/smsbox.pid"
    smsbox_started=1
  fi
  # The SMSC line reads "(online Ns, ...)"; a connected smsbox reads "smsbox:..., IP 127.0.0.1 (on-line ...)".
  if grep -q "(online" <<<"$page" && grep -q "smsbox:.*(on-line" <<<"$page"; then
    echo "kannel: SMSC online, sendsms on 127.0.0.1:${KANNEL_SENDSMS_PORT:-13913} (run dir $RUN_DIR)"
    exit 0
  fi
  if ! alive "$RUN_DIR/bearerbox.pid" || { [ -n "$smsbox_started" ] && ! alive "$RUN_DIR/smsbox.pid"; }; then
    echo "kannel: a box exited during start-up" >&2
    tail -n 20 "$RUN_DIR/bearerbox.out" "$RUN_DIR/bearerbox.log" "$RUN_DIR/smsbox.out" 2>/dev/null >&2 || true
    exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "kannel: SMSC not online after ${KANNEL_WAIT:-20}s; status page:" >&2
    printf '%s\n' "$page" >&2
    exit 1
  fi
  sleep 0.1
done
