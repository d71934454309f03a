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
if ! diff -ru crds charts/spire-steward/files/crds; then
	echo "charts/spire-steward/files/crds/ differs from crds/: run 'make crds' and commit the result." >&2
	exit 1
fi

# The chart's version and appVersion are the crate's version.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
chart_version=$(sed -n 's/^version: //p' charts/spire-steward/Chart.yaml)
app_version=$(sed -n 's/^appVersion: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/spire-steward/Chart.yaml)
if [[ "$chart_version" != "$version" || "$app_version" != "$version" ]]; then
	echo "charts/spire-steward/Chart.yaml: version $chart_version, appVersion $app_version; Cargo.toml's version is $version: set both to it." >&2
	exit 1
fi

# The kube-apiserver wrapper module's replace lines are generated from the release's own go.mod.
if ! hack/testbed/gen-kube-mod.sh --check; then
	echo "hack/testbed/kube/go.mod is stale: run 'hack/testbed/gen-kube-mod.sh' and commit the result." >&2
	exit 1
fi
echo "generated files are up to date"
