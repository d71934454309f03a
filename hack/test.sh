#!/usr/bin/env bash
# Runs the unit and integration tests. The integration tests need the testbed: when it is not
# already running it is started here, and stopped again when the tests end.
set -euo pipefail
cd "$(dirname "$0")/.."

testbed_running() {
	[[ -f target/testbed/env ]] || return 1
	local key pid
	for key in ETCD_PID KUBE_APISERVER_PID KUBE_CONTROLLER_MANAGER_PID SPIRE_SERVER_PID SPIRE_AGENT_PID; do
		pid=$(sed -n "s/^export $key=//p" target/testbed/env | tr -d "'\"")
		[[ -n "$pid" && -d "/proc/$pid" ]] || return 1
	done
}

started=""
if ! testbed_running; then
	started=yes
fi
stop() { [[ -z "$started" ]] || hack/testbed/down.sh; }
trap stop EXIT
hack/testbed/up.sh

# The image the image test runs (a release build of its own, in target/image-build).
hack/image.sh

cargo test --locked --all-targets --no-fail-fast

# The end-to-end suites once more, every operator and command reaching SPIRE over TCP with SPIFFE
# mTLS (its X509-SVID from the testbed's spire-agent) instead of the admin socket. Left out: the
# tests of one transport or one packaging (tcp, image) and of spire-controller-manager's own
# configuration, which has no TCP keys (migration, scm_config). A suite is end-to-end when it starts
# an operator or runs a command, itself or through the drift steps of tests/support/drift.rs.
mapfile -t suites < <(grep -lE 'Operator::(start|write_config)|Cli::new|drift::\{' tests/*.rs | xargs -n1 basename | sed 's/\.rs$//' |
	grep -vxE 'tcp|image|migration|scm_config')
echo "test.sh: over TCP: ${suites[*]}"
SPIRE_STEWARD_TEST_TRANSPORT=tcp cargo test --locked --no-fail-fast "${suites[@]/#/--test=}"
