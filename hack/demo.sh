#!/usr/bin/env bash
# The demo: brings up the testbed, installs the CRDs, starts spire-steward, applies example
# workloads and resources, and shows what kubectl and SPIRE report. Everything stays up
# afterwards; `make demo-down` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Starting the testbed (kube-apiserver, etcd, spire-server on 127.0.0.1)"
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

step "Done"
echo "spire-steward and the testbed keep running. Use them with:  source target/testbed/env"
echo "Stop both with:                                             make demo-down"
