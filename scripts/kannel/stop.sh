#!/usr/bin/env bash
# Stop the Kannel boxes that start.sh started (by their pid files in
# $KANNEL_RUN_DIR), smsbox first. Nothing else is touched.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RUN_DIR="${KANNEL_RUN_DIR:-$ROOT/.kannel}"

stop_box() {
  local name="$1" pidfile="$RUN_DIR/$1.pid" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  # Only a live process that is still this box (a pid can be reused).
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "kannel: $name ($pid) did not stop in 10s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

stop_box smsbox
stop_box bearerbox
echo "kannel: stopped ($RUN_DIR)"
