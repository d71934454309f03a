#!/usr/bin/env bash
# Starts or stops a private spire-server rooted in DIR.
#
# Usage: spire-server.sh start DIR   start (or restart) and wait until healthy
#        spire-server.sh stop DIR    stop; DIR and its data are kept
#        spire-server.sh clean DIR   stop and delete DIR
#
# DIR must be short (the admin socket DIR/api.sock is a unix socket, whose
# path is limited to ~107 bytes), e.g. /tmp/ss-1a2b3c4d. The first start
# writes DIR/server.conf (loopback, a free port, sqlite3 datastore in
# DIR/data, join_token node attestor); later starts reuse it, so a restarted
# server keeps its port and entries. Written files: DIR/server.conf,
# DIR/pid, DIR/port, DIR/server.log (or SPIRE_LOG_FILE), DIR/server.out.
#
# Environment (first start only):
#   SPIRE_TRUST_DOMAIN   trust domain (default example.org)
#   SPIRE_KEY_MANAGER    memory (default) or disk (CA keys survive restarts)
#   SPIRE_LOG_FILE       log file (default DIR/server.log)
#   SPIRE_LOG_LEVEL      log level (default WARN)
# Environment (every start):
#   SPIRE_START_TIMEOUT  seconds to wait for health (default 30)
#   SPIRE_SERVER_BIN     spire-server binary (default: the build cache)
set -euo pipefail

TB_NAME=spire-server
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	echo "usage: $0 start|stop|clean DIR" >&2
	exit 2
}
(($# == 2)) || usage
cmd="$1"
dir="$2"
[[ "$dir" == /* ]] || dir="$PWD/$dir"
dir="${dir%/}"
sock="$dir/api.sock"
marker="$dir/.spire-steward-testbed"

healthy() {
	"$SPIRE_SERVER_BIN" healthcheck -socketPath "$sock" >/dev/null 2>&1
}

running_pid() {
	local pid
	pid="$(cat "$dir/pid" 2>/dev/null || true)"
	tb_alive "$pid" spire-server && printf '%s\n' "$pid"
}

write_config() {
	local port td="${SPIRE_TRUST_DOMAIN:-example.org}" km
	port="$(tb_free_port)"
	case "${SPIRE_KEY_MANAGER:-memory}" in
	memory) km='KeyManager "memory" {
    plugin_data {}
  }' ;;
	disk) km="KeyManager \"disk\" {
    plugin_data {
      keys_path = \"$dir/data/keys.json\"
    }
  }" ;;
	*) tb_die "SPIRE_KEY_MANAGER must be memory or disk" ;;
	esac
	cat >"$dir/server.conf.tmp" <<EOF
server {
  bind_address = "127.0.0.1"
  bind_port    = "$port"
  socket_path  = "$sock"
  trust_domain = "$td"
  data_dir     = "$dir/data"
  log_level    = "${SPIRE_LOG_LEVEL:-WARN}"
  log_file     = "${SPIRE_LOG_FILE:-$dir/server.log}"
}

plugins {
  DataStore "sql" {
    plugin_data {
      database_type     = "sqlite3"
      connection_string = "$dir/data/datastore.sqlite3"
    }
  }

  $km

  NodeAttestor "join_token" {
    plugin_data {}
  }
}
EOF
	mv -f "$dir/server.conf.tmp" "$dir/server.conf"
	printf '%s\n' "$port" >"$dir/port"
}

start() {
	local t pid timeout="${SPIRE_START_TIMEOUT:-30}" log
	t="$(tb_now)"
	((${#sock} < 100)) || tb_die "socket path $sock is too long for a unix socket; use a shorter DIR"
	if [[ ! -x "$SPIRE_SERVER_BIN" ]]; then
		"$TB_HERE/build.sh" spire
	fi
	if pid="$(running_pid)"; then
		if healthy; then
			tb_log "already running in $dir (pid $pid)"
			return 0
		fi
		tb_log "pid $pid in $dir is not healthy; restarting"
		tb_stop 10 "$pid:spire-server"
	fi
	mkdir -p "$dir/data"
	chmod 700 "$dir"
	: >"$marker"
	[[ -f "$dir/server.conf" ]] || write_config
	log="$(sed -n 's/^[[:space:]]*log_file[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' "$dir/server.conf")"
	tb_spawn "$dir/server.out" "$SPIRE_SERVER_BIN" run -config "$dir/server.conf"
	pid="$TB_PID"
	printf '%s\n' "$pid" >"$dir/pid"
	until healthy; do
		if ! tb_alive "$pid"; then
			tb_log "spire-server exited during start; log:"
			tb_tail "$dir/server.out"
			tb_tail "${log:-/dev/null}"
			rm -f "$dir/pid"
			exit 1
		fi
		if (($(awk -v a="$t" -v b="$(tb_now)" -v c="$timeout" 'BEGIN { print (b - a > c) }'))); then
			tb_log "spire-server not healthy after ${timeout}s; log:"
			tb_tail "$dir/server.out"
			tb_tail "${log:-/dev/null}"
			tb_stop 5 "$pid:spire-server"
			rm -f "$dir/pid"
			exit 1
		fi
		sleep 0.2
	done
	tb_log "healthy at $sock (pid $pid, port $(cat "$dir/port")) in $(tb_since "$t")s"
}

stop() {
	local pid
	if pid="$(running_pid)"; then
		tb_stop 10 "$pid:spire-server"
	fi
	rm -f "$dir/pid"
}

case "$cmd" in
start) start ;;
stop) stop ;;
clean)
	stop
	if [[ -d "$dir" ]]; then
		[[ -f "$marker" ]] || tb_die "$dir was not created by $0; not deleting it"
		rm -rf "$dir"
	fi
	;;
*) usage ;;
esac
