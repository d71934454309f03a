#!/usr/bin/env bash
# Builds argocd-lua from the Go module in hack/tools/argocd-lua/ (pinned by its go.mod and go.sum):
# it runs Argo CD resource customization scripts (health.lua, discovery.lua, action.lua) on
# objects the way Argo CD does, in gopher-lua, the Lua runtime Argo CD embeds. The binary goes to
# a cache outside the repository, keyed by the gopher-lua version go.mod pins and a digest of the
# tool's sources:
#   ${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/tools/argocd-lua-<version>-<digest>/argocd-lua
# A binary already in the cache is not rebuilt. tests/gitops.rs calls this script.
#
# Prints the binary's path on stdout; progress goes to stderr.
#
# Version bump: (cd hack/tools/argocd-lua && go get github.com/yuin/gopher-lua@<version> && go mod tidy)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=go-tool.sh
. "$here/go-tool.sh"
build_go_tool argocd-lua github.com/yuin/gopher-lua
