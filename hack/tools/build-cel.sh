#!/usr/bin/env bash
# Builds cel from the Go module in hack/tools/cel/ (pinned by its go.mod and go.sum): it evaluates
# Flux healthCheckExprs on objects with Flux's own evaluator (github.com/fluxcd/pkg/runtime/cel,
# the code kustomize-controller and helm-controller run). The binary goes to a cache outside the
# repository, keyed by the fluxcd/pkg/runtime version go.mod pins and a digest of the tool's
# sources:
#   ${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/tools/cel-<version>-<digest>/cel
# A binary already in the cache is not rebuilt. tests/gitops.rs calls this script.
#
# Prints the binary's path on stdout; progress goes to stderr.
#
# Version bump: (cd hack/tools/cel && go get github.com/fluxcd/pkg/runtime@<version> && go mod tidy)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=go-tool.sh
. "$here/go-tool.sh"
build_go_tool cel github.com/fluxcd/pkg/runtime
