#!/usr/bin/env bash
# Stops the testbed started by up.sh and deletes its state (target/testbed
# and the spire-server and spire-agent directories under /tmp). Safe to run
# when nothing is up.
set -euo pipefail

TB_NAME=down
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "${TESTBED_LOCK_HELD:-}" != 1 && -d "$(dirname "$TB_LOCK")" ]]; then
	exec 9>"$TB_LOCK"
	flock 9
fi

pid_of() { cat "$1" 2>/dev/null || true; }

# The watchdog first, unless this is the watchdog itself.
watchdog="$(pid_of "$TB_STATE/watchdog.pid")"
if [[ -n "$watchdog" && "$watchdog" != "$$" ]]; then
	tb_stop 5 "$watchdog:watchdog.sh"
fi

# The clients before their servers, so that they do not log the servers
# going away: kube-controller-manager before kube-apiserver, the agent before
# spire-server. The agent may have been restarted since up.sh
# (spire-agent.sh), so the pid in its directory counts too.
procs=()
clients=()
pid="$(pid_of "$TB_STATE/kube-controller-manager.pid")"
[[ -n "$pid" ]] && tb_alive "$pid" kube-controller-manager && clients+=("$pid:kube-controller-manager")
for pid in "$(pid_of "$TB_STATE/spire-agent.pid")" "$(pid_of "$TB_AGENT_DIR/pid")"; do
	[[ -n "$pid" ]] && tb_alive "$pid" spire-agent && [[ " ${clients[*]-} " != *" $pid:spire-agent "* ]] &&
		clients+=("$pid:spire-agent")
done
if ((${#clients[@]} > 0)); then
	tb_stop 10 "${clients[@]}"
	procs+=("${clients[@]}")
fi

# kube-apiserver shuts down cleanly only while etcd is still up, so etcd
# goes last.
servers=()
for spec in kube-apiserver:kube-apiserver spire-server:spire-server; do
	pid="$(pid_of "$TB_STATE/${spec%%:*}.pid")"
	[[ -n "$pid" ]] && tb_alive "$pid" "${spec#*:}" && servers+=("$pid:${spec#*:}")
done
pid="$(pid_of "$TB_SPIRE_DIR/pid")"
if [[ -n "$pid" ]] && tb_alive "$pid" spire-server && [[ " ${servers[*]-} " != *" $pid:spire-server "* ]]; then
	servers+=("$pid:spire-server")
fi
if ((${#servers[@]} > 0)); then
	tb_stop 10 "${servers[@]}"
	procs+=("${servers[@]}")
fi
pid="$(pid_of "$TB_STATE/etcd.pid")"
if [[ -n "$pid" ]] && tb_alive "$pid" etcd; then
	procs+=("$pid:etcd")
	tb_stop 10 "$pid:etcd"
fi

existed=0
[[ -e "$TB_STATE" || -e "$TB_SPIRE_DIR" || -e "$TB_AGENT_DIR" ]] && existed=1
rm -rf "$TB_STATE" "$TB_SPIRE_DIR" "$TB_AGENT_DIR"

if ((${#procs[@]} > 0 || existed)); then
	tb_log "stopped ${#procs[@]} process(es), removed $TB_STATE, $TB_SPIRE_DIR and $TB_AGENT_DIR"
else
	tb_log "nothing was up"
fi
