#!/usr/bin/env bash
# Starts or stops a spire-agent rooted in DIR, attested to a spire-server
# started by spire-server.sh with a fresh join token.
#
# Usage: spire-agent.sh start DIR   start unless running and healthy; wait until healthy
#        spire-agent.sh stop DIR    stop; DIR is kept
#        spire-agent.sh clean DIR   stop and delete DIR
#
# DIR must be short (the Workload API socket DIR/api.sock is a unix socket,
# whose path is limited to ~107 bytes), e.g. /tmp/sa-1a2b3c4d. Every start
# that has to launch the agent begins afresh: a new join token, the server's
# current bundle as the agent's trust bundle, an empty data directory and a
# rewritten DIR/agent.conf. Join tokens are single-use and the agent keeps
# its keys in memory, so a stopped agent can only come back this way; the
# agent it replaces is evicted from the server. A restart of the server with
# new CA keys (the memory key manager) leaves the agent unable to sync: it
# exits or fails its health check, and the next start replaces it.
#
# The agent opens no TCP port; it dials the server at 127.0.0.1:<DIR/port of
# the server>. Workloads are attested by the unix plugin with
# discover_workload_path, so "unix:path:<absolute path of the calling
# binary>" selectors match; the binary is not hashed (no unix:sha256). A
# written entry reaches the agent once the server has rebuilt its entry cache
# (every 5 s by default) and the agent has synced (SPIRE_AGENT_SYNC_INTERVAL).
#
# Written files: DIR/agent.conf, DIR/bundle.pem, DIR/pid, DIR/id (the
# agent's SPIFFE ID), DIR/agent.log, DIR/agent.out, DIR/data/.
#
# Environment:
#   SPIRE_SERVER_DIR       directory of the spire-server.sh server (start; required)
#   SPIRE_TRUST_DOMAIN     trust domain (default example.org)
#   SPIRE_AGENT_LOG_LEVEL  log level (default WARN)
#   SPIRE_AGENT_SYNC_INTERVAL  how often the agent syncs entries (default 1s;
#                          SPIRE's own default is 5s)
#   SPIRE_START_TIMEOUT    seconds to wait for health (default 30)
#   SPIRE_AGENT_BIN, SPIRE_SERVER_BIN  binaries (default: the build cache)
set -euo pipefail

TB_NAME=spire-agent
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
	"$SPIRE_AGENT_BIN" healthcheck -socketPath "$sock" >/dev/null 2>&1
}

running_pid() {
	local pid
	pid="$(cat "$dir/pid" 2>/dev/null || true)"
	tb_alive "$pid" spire-agent && printf '%s\n' "$pid"
}

# Serializes starts and stops on the same DIR (test binaries may restart the
# agent concurrently). fd 9 is the one tb_spawn keeps from the agent, so the
# lock ends with this script.
lock_dir() {
	mkdir -p "$dir"
	exec 9<"$dir"
	flock 9
}

write_config() {
	local server_port="$1" token="$2" td="${SPIRE_TRUST_DOMAIN:-example.org}"
	cat >"$dir/agent.conf.tmp" <<EOF
agent {
  server_address    = "127.0.0.1"
  server_port       = $server_port
  socket_path       = "$sock"
  trust_domain      = "$td"
  trust_bundle_path = "$dir/bundle.pem"
  data_dir          = "$dir/data"
  join_token        = "$token"
  log_level         = "${SPIRE_AGENT_LOG_LEVEL:-WARN}"
  log_file          = "$dir/agent.log"

  experimental {
    sync_interval = "${SPIRE_AGENT_SYNC_INTERVAL:-1s}"
  }
}

plugins {
  NodeAttestor "join_token" {
    plugin_data {}
  }

  KeyManager "memory" {
    plugin_data {}
  }

  WorkloadAttestor "unix" {
    plugin_data {
      discover_workload_path = true
      # Hashing the (large) binary on every attestation would slow each
      # Workload API call down; path selectors are enough here.
      workload_size_limit = -1
    }
  }
}
EOF
	mv -f "$dir/agent.conf.tmp" "$dir/agent.conf"
}

stop_agent() {
	local pid
	if pid="$(running_pid)"; then
		tb_stop 10 "$pid:spire-agent"
	fi
	rm -f "$dir/pid"
}

start() {
	local t pid timeout="${SPIRE_START_TIMEOUT:-30}" server_dir="${SPIRE_SERVER_DIR:-}"
	local server_sock token old_id td="${SPIRE_TRUST_DOMAIN:-example.org}"
	t="$(tb_now)"
	((${#sock} < 100)) || tb_die "socket path $sock is too long for a unix socket; use a shorter DIR"
	[[ -n "$server_dir" ]] || tb_die "SPIRE_SERVER_DIR must name the spire-server.sh directory"
	server_sock="$server_dir/api.sock"
	[[ -f "$server_dir/port" ]] || tb_die "$server_dir/port is missing; is the server started by spire-server.sh?"
	if [[ ! -x "$SPIRE_AGENT_BIN" || ! -x "$SPIRE_SERVER_BIN" ]]; then
		"$TB_HERE/build.sh" spire
	fi
	lock_dir
	: >"$marker"
	if pid="$(running_pid)"; then
		if healthy; then
			tb_log "already running in $dir (pid $pid)"
			return 0
		fi
		tb_log "pid $pid in $dir is not healthy; replacing it"
	fi
	stop_agent
	"$SPIRE_SERVER_BIN" healthcheck -socketPath "$server_sock" >/dev/null 2>&1 ||
		tb_die "the spire-server at $server_sock is not healthy"

	old_id="$(cat "$dir/id" 2>/dev/null || true)"
	if [[ -n "$old_id" ]]; then
		"$SPIRE_SERVER_BIN" agent evict -socketPath "$server_sock" -spiffeID "$old_id" >/dev/null 2>&1 || true
	fi
	rm -rf "$dir/data" "$dir/id" "$sock"
	mkdir -p "$dir/data"
	chmod 700 "$dir"

	"$SPIRE_SERVER_BIN" bundle show -socketPath "$server_sock" >"$dir/bundle.pem.tmp" ||
		tb_die "could not read the server's bundle"
	mv -f "$dir/bundle.pem.tmp" "$dir/bundle.pem"
	token="$("$SPIRE_SERVER_BIN" token generate -socketPath "$server_sock" -ttl 600 -output json |
		sed -n 's/.*"value":"\([^"]*\)".*/\1/p')"
	[[ -n "$token" ]] || tb_die "could not generate a join token"
	write_config "$(cat "$server_dir/port")" "$token"

	tb_spawn "$dir/agent.out" "$SPIRE_AGENT_BIN" run -config "$dir/agent.conf"
	pid="$TB_PID"
	printf '%s\n' "$pid" >"$dir/pid"
	until healthy; do
		if ! tb_alive "$pid"; then
			tb_log "spire-agent exited during start; log:"
			tb_tail "$dir/agent.out"
			tb_tail "$dir/agent.log"
			rm -f "$dir/pid"
			exit 1
		fi
		if (($(awk -v a="$t" -v b="$(tb_now)" -v c="$timeout" 'BEGIN { print (b - a > c) }'))); then
			tb_log "spire-agent not healthy after ${timeout}s; log:"
			tb_tail "$dir/agent.out"
			tb_tail "$dir/agent.log"
			tb_stop 5 "$pid:spire-agent"
			rm -f "$dir/pid"
			exit 1
		fi
		sleep 0.1
	done
	printf '%s\n' "spiffe://$td/spire/agent/join_token/$token" >"$dir/id"
	tb_log "healthy at $sock (pid $pid, $(cat "$dir/id")) in $(tb_since "$t")s"
}

case "$cmd" in
start) start ;;
stop)
	[[ -d "$dir" ]] || exit 0
	lock_dir
	stop_agent
	;;
clean)
	[[ -d "$dir" ]] || exit 0
	[[ -f "$marker" ]] || tb_die "$dir was not created by $0; not deleting it"
	lock_dir
	stop_agent
	rm -rf "$dir"
	;;
*) usage ;;
esac
