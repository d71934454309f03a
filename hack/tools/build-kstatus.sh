#!/usr/bin/env bash
# Builds kstatus from the Go module in hack/tools/kstatus/ (pinned by its go.mod and go.sum): it
# prints what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, the library behind Flux's health
# checks) computes for objects. The binary goes to a cache outside the repository, keyed by the
# cli-utils version go.mod pins and a digest of the tool's sources:
#   ${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/tools/kstatus-<version>-<digest>/kstatus
# A binary already in the cache is not rebuilt. tests/gitops.rs calls this script.
#
# Prints the binary's path on stdout; progress goes to stderr.
#
# Version bump: (cd hack/tools/kstatus && go get sigs.k8s.io/cli-utils@<version> && go mod tidy)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=go-tool.sh
. "$here/go-tool.sh"
build_go_tool kstatus sigs.k8s.io/cli-utils
