#!/usr/bin/env bash
# The demo: brings up the testbed, installs the CRDs, applies the example manifests and shows
# what kubectl and SPIRE report. The testbed stays up afterwards; `make testbed-down` stops it.
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

step "Applying the examples from e2e/examples/"
kubectl apply --server-side --field-manager=spire-steward-demo -f e2e/examples/

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

step "Done"
echo "The testbed is still running. Use it with:  source target/testbed/env"
echo "Stop it with:                                  make testbed-down"
