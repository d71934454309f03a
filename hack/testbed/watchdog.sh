#!/usr/bin/env bash
# Started detached by up.sh when TESTBED_OWNER_PID is set: runs down.sh once
# every owner process listed in target/testbed/owners ("pid starttime"
# lines) has exited. Exits quietly when the testbed is gone or kept up.
set -euo pipefail

TB_NAME=watchdog
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

owners="$TB_STATE/owners"

any_owner_alive() {
	local pid start
	while read -r pid start; do
		tb_alive "$pid" && [[ "$(tb_proc_start "$pid")" == "$start" ]] && return 0
	done <"$owners"
	return 1
}

while true; do
	sleep 1
	[[ -f "$owners" ]] || exit 0
	any_owner_alive && continue
	mkdir -p "$(dirname "$TB_LOCK")"
	exec 9>"$TB_LOCK"
	flock 9
	[[ -f "$owners" ]] || exit 0
	if any_owner_alive; then
		exec 9>&-
		continue
	fi
	break
done
tb_log "all owners have exited; tearing the testbed down"
TESTBED_LOCK_HELD=1 exec "$TB_HERE/down.sh"
