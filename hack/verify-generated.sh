#!/usr/bin/env bash
# Fails when a generated file differs from what its generator produces now.
set -euo pipefail
cd "$(dirname "$0")/.."

fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT

cargo run --locked --quiet -- crds --out-dir "$fresh/crds"
if ! diff -ru crds "$fresh/crds"; then
	echo "crds/ is stale: run 'make crds' and commit the result." >&2
	exit 1
fi

# The kube-apiserver wrapper module's replace lines are generated from the release's own go.mod.
if ! hack/testbed/gen-kube-mod.sh --check; then
	echo "hack/testbed/kube/go.mod is stale: run 'hack/testbed/gen-kube-mod.sh' and commit the result." >&2
	exit 1
fi
echo "generated files are up to date"
