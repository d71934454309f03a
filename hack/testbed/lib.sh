# Shared helpers for the testbed scripts. Source it; do not run it.
# shellcheck shell=bash
# shellcheck disable=SC2034 # variables are used by the sourcing scripts

TB_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$TB_HERE/versions.env"

TB_CACHE="${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/testbed"

# Paths of the cached binaries (overridable, e.g. for prebuilt binaries).
KUBE_APISERVER_BIN="${KUBE_APISERVER_BIN:-$TB_CACHE/kubernetes-$KUBERNETES_VERSION/kube-apiserver}"
KUBE_CONTROLLER_MANAGER_BIN="${KUBE_CONTROLLER_MANAGER_BIN:-$TB_CACHE/kubernetes-$KUBERNETES_VERSION/kube-controller-manager}"
KUBECTL_BIN="${KUBECTL_BIN:-$TB_CACHE/kubernetes-$KUBERNETES_VERSION/kubectl}"
ETCD_BIN="${ETCD_BIN:-$TB_CACHE/etcd-$ETCD_VERSION/etcd}"
SPIRE_SERVER_BIN="${SPIRE_SERVER_BIN:-$TB_CACHE/spire-$SPIRE_VERSION/spire-server}"
SPIRE_AGENT_BIN="${SPIRE_AGENT_BIN:-$TB_CACHE/spire-$SPIRE_VERSION/spire-agent}"

tb_repo() {
	git -C "$TB_HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$TB_HERE/../.." && pwd)
}

TB_REPO="$(tb_repo)"
TB_STATE="$TB_REPO/target/testbed"
TB_LOCK="$TB_REPO/target/.testbed.lock"
# Unix socket paths are limited to ~107 bytes, so SPIRE lives under a short
# /tmp directory derived from the state directory path.
TB_SPIRE_DIR="/tmp/ss-$(printf '%s' "$TB_STATE" | sha256sum | cut -c1-8)"
# The testbed's spire-agent (Workload API socket TB_AGENT_DIR/api.sock).
TB_AGENT_DIR="/tmp/sa-$(printf '%s' "$TB_STATE" | sha256sum | cut -c1-8)"

tb_log() { printf '%s: %s\n' "${TB_NAME:-testbed}" "$*" >&2; }
tb_die() {
	tb_log "error: $*"
	exit 1
}

tb_now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
# Seconds since the given tb_now timestamp, one decimal.
tb_since() { awk -v a="$1" -v b="$(tb_now)" 'BEGIN { printf "%.1f", b - a }'; }

# True if a process with this pid exists and, when a name is given, its
# command line mentions that name (guards against pid reuse).
tb_alive() {
	local pid="$1" name="${2:-}"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[[ -d "/proc/$pid" ]] || return 1
	if [[ -n "$name" ]]; then
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$name" || return 1
	fi
	# A zombie has exited already.
	[[ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)" != Z ]]
}

# Start time of a process (clock ticks since boot), to tell it from a later
# process that reuses its pid.
tb_proc_start() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $20 }'; }

# SIGTERM the pids (each "pid:name"), wait up to $1 seconds, then SIGKILL.
tb_stop() {
	local timeout="$1" spec pid name tries left
	shift
	local -a live=()
	for spec in "$@"; do
		pid="${spec%%:*}" name="${spec#*:}"
		if tb_alive "$pid" "$name"; then
			kill -TERM "$pid" 2>/dev/null || true
			live+=("$spec")
		fi
	done
	tries=$((timeout * 10))
	while ((${#live[@]} > 0 && tries-- > 0)); do
		sleep 0.1
		left=()
		for spec in "${live[@]}"; do
			tb_alive "${spec%%:*}" "${spec#*:}" && left+=("$spec")
		done
		live=("${left[@]+"${left[@]}"}")
	done
	for spec in "${live[@]+"${live[@]}"}"; do
		pid="${spec%%:*}" name="${spec#*:}"
		if tb_alive "$pid" "$name"; then
			tb_log "killing $name (pid $pid) after ${timeout}s"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

TB_PORTS_TAKEN=" "
# Prints a free loopback TCP port below the kernel's ephemeral range, never
# one handed out earlier by this process.
tb_free_port() {
	local lo=20000 hi=32767 p i
	read -r hi _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || hi=32768
	hi=$((hi - 1))
	((hi > lo + 1000)) || { lo=10000 hi=20000; }
	for ((i = 0; i < 200; i++)); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
		[[ "$TB_PORTS_TAKEN" == *" $p "* ]] && continue
		if command -v ss >/dev/null 2>&1; then
			ss -Htan "sport = :$p" 2>/dev/null | grep -q . && continue
		elif (: </dev/tcp/127.0.0.1/"$p") 2>/dev/null; then
			continue
		fi
		TB_PORTS_TAKEN+="$p "
		printf '%s\n' "$p"
		return 0
	done
	tb_die "no free port found"
}

# Starts a detached process (own session, stdin from /dev/null, output
# appended to $1) and sets TB_PID. The testbed lock (fd 9) is not passed on.
tb_spawn() {
	local log="$1" comm child i
	shift
	setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
	TB_PID="$!"
	# setsid forks instead of exec'ing when it starts as a process-group leader (under job
	# control); follow it to the real process so that signals reach the server itself.
	for ((i = 0; i < 100; i++)); do
		comm="$(cat "/proc/$TB_PID/comm" 2>/dev/null || true)"
		if [[ "$comm" == setsid ]]; then
			child="$(pgrep -P "$TB_PID" | head -n1 || true)"
			if [[ -n "$child" ]]; then
				TB_PID="$child"
				break
			fi
		elif [[ "$comm" != bash ]]; then
			break
		fi
		sleep 0.01
	done
}

# Last lines of a log, indented, on stderr.
tb_tail() {
	if [[ -f "$1" ]]; then
		tail -n "${2:-20}" "$1" | sed 's/^/    /' >&2
	fi
}

# Reads KEY from a file of "[export ]KEY=value" lines.
tb_get() {
	sed -n "s/^\(export \)\{0,1\}$1=//p" "$2" 2>/dev/null | tail -n1 | sed "s/^'\(.*\)'\$/\1/"
}
