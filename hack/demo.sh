#!/usr/bin/env bash
# The demo: brings up the testbed, installs the CRDs, starts spire-steward, applies example
# workloads and resources, and shows what kubectl and SPIRE report. Then governance
# (hack/demo/): an IdentityPolicy clamps one identity's TTLs, and a legacy identity exists only
# through an IdentityException that lapses a minute later; the demo waits for the lapse and shows
# the legacy entry gone. Everything stays up afterwards; `make demo-down` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Starting the testbed (etcd, kube-apiserver, kube-controller-manager, spire-server, spire-agent on 127.0.0.1)"
hack/testbed/up.sh
# shellcheck source=/dev/null
. target/testbed/env
kubectl() { "$KUBECTL_BIN" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

step "Installing the CRDs from crds/"
kubectl apply --server-side --field-manager=spire-steward-demo -f crds/
kubectl wait --for=condition=Established --timeout=60s -f crds/

step "Building and starting spire-steward"
cargo build --locked --quiet
if [[ -f target/testbed/operator.pid ]] && kill -0 "$(cat target/testbed/operator.pid)" 2>/dev/null; then
	kill "$(cat target/testbed/operator.pid)"
	sleep 1
fi
KUBECONFIG="$KUBECONFIG_ADMIN" setsid target/debug/spire-steward run --config e2e/demo/operator.yaml \
	--spire-server-socket-path "$SPIRE_SERVER_SOCKET" >target/testbed/operator.log 2>&1 </dev/null &
echo $! >target/testbed/operator.pid
echo "spire-steward is running (pid $(cat target/testbed/operator.pid)); log: target/testbed/operator.log"

step "Applying workloads (e2e/demo/workloads.yaml) and resources (e2e/examples/)"
kubectl apply --server-side --field-manager=spire-steward-demo -f e2e/demo/workloads.yaml
kubectl apply --server-side --field-manager=spire-steward-demo -f e2e/examples/

step "Waiting for every resource to be Ready"
kubectl wait --for=condition=Ready --timeout=60s -f e2e/examples/clusterspiffeid-default.yaml \
	-f e2e/examples/clusterspiffeid-checkout.yaml -f e2e/examples/clusterstaticentry-billing-db.yaml \
	-f e2e/examples/clusterstaticentry-downstream.yaml -f e2e/examples/clusterfederatedtrustdomain-partner.yaml \
	-f e2e/examples/clusterfederatedtrustdomain-backend.yaml

step "kubectl get spire-steward -o wide"
kubectl get spire-steward -o wide

step "kubectl explain clusterspiffeid.spec.ttl"
kubectl explain clusterspiffeid.spec.ttl

step "The API server itself rejects a bad object (CEL validation, no webhook)"
kubectl apply --dry-run=server -f - <<'YAML' || true
apiVersion: spire-steward.io/v1alpha1
kind: ClusterStaticEntry
metadata:
  name: broken
spec:
  spiffeID: spiffe://example.org/spire/not-allowed
  parentID: spiffe://example.org/spire/agent/x
  selectors: ["unix"]
  x509SVIDTTL: one hour
YAML

step "SPIRE's registration entries"
"$SPIRE_SERVER_BIN" entry show -socketPath "$SPIRE_SERVER_SOCKET"

step "kubectl describe clusterspiffeid checkout"
kubectl describe clusterspiffeid checkout | sed -n '/^Status:/,$p'

step "Governance: a policy, a clamped identity, and a legacy identity under an exception (hack/demo/)"
# An exception's spec cannot change: one left by an earlier run is deleted, and a new one made.
kubectl delete identityexception billing-legacy-naming --ignore-not-found
expires_at="$(date -u -d '+60 seconds' +%Y-%m-%dT%H:%M:%SZ)"
sed "s/@EXPIRES_AT@/$expires_at/" hack/demo/identityexception-billing-legacy.yaml |
	kubectl apply --server-side --field-manager=spire-steward-demo -f -
kubectl apply --server-side --field-manager=spire-steward-demo -f hack/demo/governance.yaml -f hack/demo/tenant.yaml
echo "IdentityException billing-legacy-naming lets billing-legacy keep its name until $expires_at"
kubectl wait --for=condition=Ready --timeout=60s identitypolicy/baseline identityexception/billing-legacy-naming \
	clusterspiffeid/billing-api clusterspiffeid/billing-legacy

billing_entries() {
	local id
	for id in ns/billing/sa/billing-api billing/legacy-worker/legacy-worker-1; do
		"$SPIRE_SERVER_BIN" entry show -socketPath "$SPIRE_SERVER_SOCKET" -spiffeID "spiffe://example.org/$id"
	done
}

step "SPIRE's entries for the billing namespace: billing-api clamped to 4h and 15m, the legacy name allowed"
billing_entries

step "A tenant's SPIFFEIDs in namespace shop: cart is confined under /ns/shop/, escape is denied"
kubectl wait --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=PolicyDenied --timeout=60s \
	-n shop spiffeid/escape
kubectl wait --for=condition=Ready --timeout=60s -n shop spiffeid/cart
kubectl get spiffeids -n shop
kubectl get spiffeid escape -n shop -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}{"\n"}'
"$SPIRE_SERVER_BIN" entry show -socketPath "$SPIRE_SERVER_SOCKET" -spiffeID spiffe://example.org/ns/shop/sa/cart

step "kubectl get clusterspiffeids,idpol,idexc -o wide"
kubectl get clusterspiffeids,idpol,idexc -o wide
echo "(ExpiringSoon: the exception lapses inside the operator's exceptionWarningWindow, 72h by default.)"

step "The TTLs the policy set for billing-api (status.ttl)"
kubectl get clusterspiffeid billing-api -o jsonpath='x509: {.status.ttl.x509}{"\n"}jwt:  {.status.ttl.jwt}{"\n"}'

step "kubectl describe identityexception billing-legacy-naming"
kubectl describe identityexception billing-legacy-naming | sed -n '/^Spec:/,$p'

step "An exception cannot be extended in place (CEL validation refuses the change)"
kubectl patch identityexception billing-legacy-naming --type=merge --dry-run=server \
	-p '{"spec":{"expiresAt":"2099-01-01T00:00:00Z"}}' || true

step "Waiting for the exception to lapse at $expires_at"
wait_s=$(($(date -u -d "$expires_at" +%s) + 5 - $(date -u +%s)))
if ((wait_s > 0)); then
	echo "sleeping ${wait_s}s"
	sleep "$wait_s"
fi
kubectl wait --for=condition=Expired --timeout=30s identityexception/billing-legacy-naming
kubectl wait --for=jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'=PolicyDenied --timeout=30s \
	clusterspiffeid/billing-legacy

step "The operator's log at the lapse"
sed 's/\x1b\[[0-9;]*m//g' target/testbed/operator.log | grep -E 'an exception lapsed|reason="(PolicyDenied|Expired)"' || true

step "After the lapse: SPIRE's entries for the billing namespace (the legacy entry is gone)"
billing_entries

step "kubectl get clusterspiffeids,idpol,idexc -o wide"
kubectl get clusterspiffeids,idpol,idexc -o wide

step "Why billing-legacy is denied, and the Events on it and on the exception"
kubectl get clusterspiffeid billing-legacy -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}{"\n"}'
kubectl get events -A --field-selector involvedObject.name=billing-legacy
kubectl get events -A --field-selector involvedObject.name=billing-legacy-naming

step "The audit records of the demo (target/testbed/audit.jsonl), the last 6"
tail -n 6 target/testbed/audit.jsonl

steward() {
	KUBECONFIG="$KUBECONFIG_ADMIN" target/debug/spire-steward "$@" --config e2e/demo/operator.yaml \
		--spire-server-socket-path "$SPIRE_SERVER_SOCKET"
}

step "spire-steward report: every identity, its owner, TTL, the bound that set it, and its drift"
steward report

step "spire-steward plan -f hack/demo/change.yaml: what merging the change would write"
rc=0
steward plan -f hack/demo/change.yaml || rc=$?
echo "exit code $rc (0: no changes, 2: changes, 1: error)"

step "Done"
echo "spire-steward and the testbed keep running. Use them with:  source target/testbed/env"
echo "Stop both with:                                             make demo-down"
