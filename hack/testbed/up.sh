#!/usr/bin/env bash
# Starts the local testbed: etcd, kube-apiserver, kube-controller-manager and
# spire-server on 127.0.0.1 with free ports, state in $REPO/target/testbed,
# and a spire-agent attested to that server with a join token
# (spire-agent.sh). kube-controller-manager runs only the controllers in
# KCM_CONTROLLERS: ClusterRole aggregation (the aggregate-to-admin/edit/view
# labels fill the built-in admin, edit and view roles), namespace deletion, and
# the Deployment and ReplicaSet controllers (a chart installed for real gets its
# pods created, and so admitted or refused by Pod Security; no kubelet runs them).
#
# Writes target/testbed/env (sourceable "export KEY=value" lines),
# target/testbed/admin.kubeconfig, target/testbed/operator.kubeconfig and
# target/testbed/kube-controller-manager.kubeconfig.
# Idempotent: a healthy testbed is left running; a broken one is torn down
# and started again. When only the agent is unhealthy (it cannot outlive a
# change of the server's CA, for one), the agent alone is started afresh and
# the env file's agent lines are updated.
#
# TESTBED_OWNER_PID=<pid>: tear the testbed down (down.sh) once that process
# is gone. Several owners may share one testbed; it stops when all are gone.
# Calling up.sh without it on an owned testbed keeps the testbed up for good;
# a testbed started without an owner is never stopped by the watchdog.
set -euo pipefail

TB_NAME=up
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t_total="$(tb_now)"
env_file="$TB_STATE/env"
# The only controllers kube-controller-manager runs.
KCM_CONTROLLERS=(clusterrole-aggregation-controller namespace-controller deployment-controller replicaset-controller)
owner="${TESTBED_OWNER_PID:-}"
if [[ -n "$owner" ]]; then
	[[ "$owner" =~ ^[0-9]+$ ]] || tb_die "TESTBED_OWNER_PID must be a pid"
	tb_alive "$owner" || tb_die "TESTBED_OWNER_PID=$owner is not running"
fi

command -v openssl >/dev/null || tb_die "openssl is needed to make the testbed certificates"
command -v curl >/dev/null || tb_die "curl is needed to probe the testbed"

"$TB_HERE/build.sh"

mkdir -p "$(dirname "$TB_LOCK")"
exec 9>"$TB_LOCK"
flock 9

add_owner() {
	[[ -n "$owner" ]] || return 0
	printf '%s %s\n' "$owner" "$(tb_proc_start "$owner")" >>"$TB_STATE/owners"
}

start_watchdog() {
	local pid
	pid="$(cat "$TB_STATE/watchdog.pid" 2>/dev/null || true)"
	tb_alive "$pid" watchdog.sh && return 0
	tb_spawn "$TB_STATE/watchdog.log" "$TB_HERE/watchdog.sh"
	printf '%s\n' "$TB_PID" >"$TB_STATE/watchdog.pid"
}

kube_ready() {
	curl -fsS --max-time 2 --cacert "$TB_STATE/pki/ca.crt" \
		-H "Authorization: Bearer $1" "$2/readyz" >/dev/null 2>&1
}

etcd_ready() {
	curl -fsS --max-time 2 "$1/health" 2>/dev/null | grep -q '"health":"true"'
}

# kube-controller-manager serves and has built every controller of KCM_CONTROLLERS
# (each one adds its own line to the verbose healthz).
kcm_ready() {
	local out c
	out="$(curl -fsS --max-time 2 --cacert "$TB_STATE/pki/ca.crt" "$1/healthz?verbose" 2>/dev/null)" ||
		return 1
	for c in "${KCM_CONTROLLERS[@]}"; do
		grep -qxF "[+]$c ok" <<<"$out" || return 1
	done
}

# Values are single-quoted only when they need it.
emit() {
	if [[ "$2" =~ ^[A-Za-z0-9_./:@%+,=-]*$ ]]; then
		printf 'export %s=%s\n' "$1" "$2"
	else
		printf "export %s='%s'\n" "$1" "${2//\'/\'\\\'\'}"
	fi
}

# The agent's lines of the env file; a restarted agent has a new ID and pid.
emit_agent() {
	emit SPIRE_AGENT_DIR "$TB_AGENT_DIR"
	emit SPIRE_AGENT_SOCKET "$TB_AGENT_DIR/api.sock"
	emit SPIRE_AGENT_ID "$(cat "$TB_AGENT_DIR/id")"
	emit SPIRE_AGENT_PID "$(cat "$TB_AGENT_DIR/pid")"
}

start_agent() {
	SPIRE_SERVER_DIR="$TB_SPIRE_DIR" SPIRE_TRUST_DOMAIN=example.org SPIRE_AGENT_BIN="$SPIRE_AGENT_BIN" \
		SPIRE_SERVER_BIN="$SPIRE_SERVER_BIN" "$TB_HERE/spire-agent.sh" start "$TB_AGENT_DIR" &&
		cp -f "$TB_AGENT_DIR/pid" "$TB_STATE/spire-agent.pid"
}

core_healthy() {
	[[ -f "$env_file" ]] || return 1
	local etcd_pid kube_pid kcm_pid spire_pid
	etcd_pid="$(tb_get ETCD_PID "$env_file")"
	kube_pid="$(tb_get KUBE_APISERVER_PID "$env_file")"
	kcm_pid="$(tb_get KUBE_CONTROLLER_MANAGER_PID "$env_file")"
	spire_pid="$(tb_get SPIRE_SERVER_PID "$env_file")"
	tb_alive "$etcd_pid" etcd && tb_alive "$kube_pid" kube-apiserver &&
		tb_alive "$kcm_pid" kube-controller-manager && tb_alive "$spire_pid" spire-server &&
		etcd_ready "$(tb_get ETCD_URL "$env_file")" &&
		kube_ready "$(tb_get KUBE_ADMIN_TOKEN "$env_file")" "$(tb_get KUBE_APISERVER_URL "$env_file")" &&
		kcm_ready "$(tb_get KUBE_CONTROLLER_MANAGER_URL "$env_file")" &&
		"$SPIRE_SERVER_BIN" healthcheck -socketPath "$(tb_get SPIRE_SERVER_SOCKET "$env_file")" >/dev/null 2>&1
}

# The agent described by the env file is the one running in its directory, and healthy.
agent_healthy() {
	local pid
	pid="$(tb_get SPIRE_AGENT_PID "$env_file")"
	[[ -n "$pid" && "$pid" == "$(cat "$TB_AGENT_DIR/pid" 2>/dev/null)" ]] &&
		[[ "$(tb_get SPIRE_AGENT_ID "$env_file")" == "$(cat "$TB_AGENT_DIR/id" 2>/dev/null)" ]] &&
		tb_alive "$pid" spire-agent &&
		"$SPIRE_AGENT_BIN" healthcheck -socketPath "$(tb_get SPIRE_AGENT_SOCKET "$env_file")" >/dev/null 2>&1
}

is_healthy() { core_healthy && agent_healthy; }

if core_healthy && ! agent_healthy; then
	t="$(tb_now)"
	tb_log "spire-agent is not healthy or not the one in $env_file; starting it again"
	if start_agent; then
		{
			grep -v -e '^export SPIRE_AGENT_\(DIR\|SOCKET\|ID\|PID\)=' "$env_file"
			emit_agent
		} >"$env_file.tmp"
		chmod 600 "$env_file.tmp"
		mv -f "$env_file.tmp" "$env_file"
		tb_log "spire-agent up in $(tb_since "$t")s"
	fi
fi

if is_healthy; then
	if [[ -f "$TB_STATE/owners" ]]; then
		if [[ -n "$owner" ]]; then
			add_owner
			start_watchdog
		else
			# An explicit start without an owner keeps the testbed up.
			tb_stop 5 "$(cat "$TB_STATE/watchdog.pid" 2>/dev/null || echo x):watchdog.sh"
			rm -f "$TB_STATE/owners" "$TB_STATE/watchdog.pid"
		fi
	fi
	tb_log "already up; source $env_file"
	exit 0
fi

if [[ -e "$TB_STATE" || -e "$TB_SPIRE_DIR" || -e "$TB_AGENT_DIR" ]]; then
	tb_log "cleaning up a previous testbed"
	TESTBED_LOCK_HELD=1 "$TB_HERE/down.sh"
fi

mkdir -p "$TB_STATE/pki" "$TB_STATE/kube"
timings=()

# wait_for PID CAP NAME LOG CMD...: runs CMD until it succeeds, giving up
# after CAP seconds or when PID exits.
wait_for() {
	local pid="$1" cap="$2" what="$3" log="$4" t
	shift 4
	t="$(tb_now)"
	until "$@"; do
		if ! tb_alive "$pid"; then
			tb_log "$what exited during start; last lines of $log:"
			tb_tail "$log"
			return 1
		fi
		if (($(awk -v a="$t" -v b="$(tb_now)" -v c="$cap" 'BEGIN { print (b - a > c) }'))); then
			tb_log "$what not ready after ${cap}s; last lines of $log:"
			tb_tail "$log"
			return 1
		fi
		sleep 0.1
	done
}

fail() {
	tb_log "start failed; tearing down"
	TESTBED_LOCK_HELD=1 "$TB_HERE/down.sh" >/dev/null 2>&1 || true
	exit 1
}

# --- certificates and tokens ------------------------------------------------
t="$(tb_now)"
pki="$TB_STATE/pki"
(
	cd "$pki"
	openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
	openssl req -x509 -new -key ca.key -sha256 -days 7 -subj "/CN=spire-steward-testbed-ca" \
		-out ca.crt 2>/dev/null
	printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=serverAuth" "basicConstraints=critical,CA:FALSE" >serving.ext
	# Serving certificates for 127.0.0.1: <name>.key and <name>.crt.
	for name in apiserver controller-manager; do
		openssl ecparam -name prime256v1 -genkey -noout -out "$name.key" 2>/dev/null
		openssl req -new -key "$name.key" -subj "/CN=kube-$name" -out "$name.csr" 2>/dev/null
		openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -sha256 \
			-extfile serving.ext -out "$name.crt" 2>/dev/null
		rm -f "$name.csr"
	done
	openssl ecparam -name prime256v1 -genkey -noout -out sa.key 2>/dev/null
	openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
	rm -f serving.ext ca.srl
) || {
	tb_log "openssl failed to create the certificates"
	fail
}
chmod 600 "$pki"/*.key
admin_token="$(openssl rand -hex 32)"
operator_token="$(openssl rand -hex 32)"
operator_user=spire-steward-operator
kcm_token="$(openssl rand -hex 32)"
kcm_user=system:kube-controller-manager
{
	printf '%s,admin,testbed-admin,"system:masters"\n' "$admin_token"
	printf '%s,%s,%s,"system:authenticated"\n' "$operator_token" "$operator_user" "$operator_user"
	# Without per-controller service account credentials every controller acts as this
	# user, so it needs rights on everything: the namespace controller deletes objects of
	# every kind, and the aggregation controller may only write rules it holds.
	printf '%s,%s,%s,"system:masters"\n' "$kcm_token" "$kcm_user" "$kcm_user"
} >"$TB_STATE/kube/tokens.csv"
chmod 600 "$TB_STATE/kube/tokens.csv"
timings+=("certificates $(tb_since "$t")s")

# Starts a component: LAUNCH picks free ports and spawns it, READY tells when it serves. A port
# taken by someone else between choosing and binding it gets another try with new ports. Sets
# STARTED_PID and writes $TB_STATE/<name>.pid.
start_component() {
	local what="$1" log="$2" cap="$3" launch="$4" ready="$5" attempt
	for attempt in 1 2 3; do
		"$launch"
		STARTED_PID="$TB_PID"
		printf '%s\n' "$STARTED_PID" >"$TB_STATE/$what.pid"
		if wait_for "$STARTED_PID" "$cap" "$what" "$log" "$ready"; then
			return 0
		fi
		if ((attempt < 3)) && grep -q 'address already in use' "$log"; then
			tb_log "$what port clash; retrying"
			tb_stop 5 "$STARTED_PID:$what"
			continue
		fi
		fail
	done
}

# --- etcd ---------------------------------------------------------------------
t="$(tb_now)"
etcd_log="$TB_STATE/etcd.log"
launch_etcd() {
	local peer_url
	etcd_url="http://127.0.0.1:$(tb_free_port)"
	peer_url="http://127.0.0.1:$(tb_free_port)"
	rm -rf "$TB_STATE/etcd"
	tb_spawn "$etcd_log" "$ETCD_BIN" --name testbed --data-dir "$TB_STATE/etcd" \
		--listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
		--listen-peer-urls "$peer_url" --initial-advertise-peer-urls "$peer_url" \
		--initial-cluster "testbed=$peer_url" --initial-cluster-state new \
		--unsafe-no-fsync --log-level warn
}
etcd_serves() { etcd_ready "$etcd_url"; }
start_component etcd "$etcd_log" 30 launch_etcd etcd_serves
etcd_pid="$STARTED_PID"
timings+=("etcd $(tb_since "$t")s")

# --- kube-apiserver -------------------------------------------------------------
t="$(tb_now)"
kube_log="$TB_STATE/kube-apiserver.log"
launch_kube_apiserver() {
	local kube_port
	kube_port="$(tb_free_port)"
	kube_url="https://127.0.0.1:$kube_port"
	tb_spawn "$kube_log" "$KUBE_APISERVER_BIN" \
		--etcd-servers="$etcd_url" \
		--bind-address=127.0.0.1 --secure-port="$kube_port" \
		--advertise-address=127.0.0.1 \
		--endpoint-reconciler-type=none \
		--cert-dir="$TB_STATE/kube" \
		--tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
		--service-account-issuer="$kube_url" \
		--service-account-key-file="$pki/sa.pub" \
		--service-account-signing-key-file="$pki/sa.key" \
		--service-cluster-ip-range=10.0.0.0/24 \
		--authorization-mode=RBAC \
		--token-auth-file="$TB_STATE/kube/tokens.csv" \
		--disable-admission-plugins=ServiceAccount \
		--allow-privileged=true \
		--profiling=false
}
kube_serves() { kube_ready "$admin_token" "$kube_url"; }
start_component kube-apiserver "$kube_log" 60 launch_kube_apiserver kube_serves
kube_pid="$STARTED_PID"
timings+=("kube-apiserver $(tb_since "$t")s")

# --- kubeconfigs -----------------------------------------------------------------
ca_data="$(base64 -w0 <"$pki/ca.crt")"
write_kubeconfig() {
	cat >"$1.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: $kube_url
    certificate-authority-data: $ca_data
users:
- name: $2
  user:
    token: $3
contexts:
- name: testbed-$2
  context:
    cluster: testbed
    user: $2
    namespace: default
current-context: testbed-$2
EOF
	chmod 600 "$1.tmp"
	mv -f "$1.tmp" "$1"
}
write_kubeconfig "$TB_STATE/admin.kubeconfig" admin "$admin_token"
write_kubeconfig "$TB_STATE/operator.kubeconfig" "$operator_user" "$operator_token"
write_kubeconfig "$TB_STATE/kube-controller-manager.kubeconfig" "$kcm_user" "$kcm_token"

# --- kube-controller-manager ----------------------------------------------------
t="$(tb_now)"
kcm_log="$TB_STATE/kube-controller-manager.log"
launch_kube_controller_manager() {
	local kcm_port
	kcm_port="$(tb_free_port)"
	kcm_url="https://127.0.0.1:$kcm_port"
	tb_spawn "$kcm_log" "$KUBE_CONTROLLER_MANAGER_BIN" \
		--kubeconfig="$TB_STATE/kube-controller-manager.kubeconfig" \
		--controllers="$(IFS=, && echo "${KCM_CONTROLLERS[*]}")" \
		--leader-elect=false \
		--use-service-account-credentials=false \
		--bind-address=127.0.0.1 --secure-port="$kcm_port" \
		--tls-cert-file="$pki/controller-manager.crt" \
		--tls-private-key-file="$pki/controller-manager.key" \
		--profiling=false
}
kcm_serves() { kcm_ready "$kcm_url"; }
# The built-in admin role has rules only once the aggregation controller has filled it.
admin_aggregated() {
	curl -fsS --max-time 2 --cacert "$pki/ca.crt" -H "Authorization: Bearer $admin_token" \
		"$kube_url/apis/rbac.authorization.k8s.io/v1/clusterroles/admin?pretty=false" 2>/dev/null |
		grep -qF '"rules":[{'
}
start_component kube-controller-manager "$kcm_log" 30 launch_kube_controller_manager kcm_serves
kcm_pid="$STARTED_PID"
wait_for "$kcm_pid" 30 "kube-controller-manager (aggregating the admin role)" "$kcm_log" admin_aggregated ||
	fail
timings+=("kube-controller-manager $(tb_since "$t")s")

# --- spire-server ---------------------------------------------------------------
t="$(tb_now)"
SPIRE_TRUST_DOMAIN=example.org SPIRE_KEY_MANAGER=disk SPIRE_LOG_FILE="$TB_STATE/spire-server.log" \
	SPIRE_SERVER_BIN="$SPIRE_SERVER_BIN" "$TB_HERE/spire-server.sh" start "$TB_SPIRE_DIR" || {
	tb_log "spire-server failed to start; last lines of its logs:"
	tb_tail "$TB_SPIRE_DIR/server.out"
	tb_tail "$TB_STATE/spire-server.log"
	fail
}
spire_pid="$(cat "$TB_SPIRE_DIR/pid")"
printf '%s\n' "$spire_pid" >"$TB_STATE/spire-server.pid"
timings+=("spire-server $(tb_since "$t")s")

# --- spire-agent ------------------------------------------------------------------
t="$(tb_now)"
start_agent || {
	tb_log "spire-agent failed to start"
	fail
}
timings+=("spire-agent $(tb_since "$t")s")

# --- env -------------------------------------------------------------------------
{
	echo "# Testbed environment, written by hack/testbed/up.sh. Source it."
	emit TESTBED_DIR "$TB_STATE"
	emit KUBECONFIG "$TB_STATE/admin.kubeconfig"
	emit KUBECONFIG_ADMIN "$TB_STATE/admin.kubeconfig"
	emit KUBECONFIG_OPERATOR "$TB_STATE/operator.kubeconfig"
	emit KUBE_APISERVER_URL "$kube_url"
	emit KUBE_CONTROLLER_MANAGER_URL "$kcm_url"
	emit KUBE_CA_FILE "$pki/ca.crt"
	emit KUBE_ADMIN_TOKEN "$admin_token"
	emit KUBE_OPERATOR_TOKEN "$operator_token"
	emit KUBE_OPERATOR_USER "$operator_user"
	emit ETCD_URL "$etcd_url"
	emit SPIRE_SERVER_DIR "$TB_SPIRE_DIR"
	emit SPIRE_SERVER_SOCKET "$TB_SPIRE_DIR/api.sock"
	emit SPIRE_SERVER_ADDRESS "127.0.0.1:$(cat "$TB_SPIRE_DIR/port")"
	emit SPIRE_SERVER_CONF "$TB_SPIRE_DIR/server.conf"
	emit SPIRE_TRUST_DOMAIN example.org
	emit SPIRE_SERVER_BIN "$SPIRE_SERVER_BIN"
	emit SPIRE_AGENT_BIN "$SPIRE_AGENT_BIN"
	emit KUBECTL_BIN "$KUBECTL_BIN"
	emit KUBE_APISERVER_BIN "$KUBE_APISERVER_BIN"
	emit KUBE_CONTROLLER_MANAGER_BIN "$KUBE_CONTROLLER_MANAGER_BIN"
	emit ETCD_BIN "$ETCD_BIN"
	emit KUBERNETES_VERSION "$KUBERNETES_VERSION"
	emit ETCD_VERSION "$ETCD_VERSION"
	emit SPIRE_VERSION "$SPIRE_VERSION"
	emit ETCD_PID "$etcd_pid"
	emit KUBE_APISERVER_PID "$kube_pid"
	emit KUBE_CONTROLLER_MANAGER_PID "$kcm_pid"
	emit SPIRE_SERVER_PID "$spire_pid"
	emit_agent
} >"$env_file.tmp"
chmod 600 "$env_file.tmp"
mv -f "$env_file.tmp" "$env_file"

if [[ -n "$owner" ]]; then
	add_owner
	start_watchdog
fi

timings+=("total $(tb_since "$t_total")s")
tb_log "kube-apiserver $kube_url, kube-controller-manager $kcm_url, spire-server $TB_SPIRE_DIR/api.sock, spire-agent $TB_AGENT_DIR/api.sock"
summary="$(printf '%s, ' "${timings[@]}")"
tb_log "timings: ${summary%, }"
tb_log "source $env_file"
