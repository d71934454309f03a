#!/usr/bin/env bash
# Builds helm from the Go wrapper module in hack/tools/helm/ (pinned by its go.mod and go.sum)
# into a cache outside the repository, keyed by version:
#   ${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/tools/helm-<version>/helm
# A binary already in the cache is not rebuilt. The version is HELM_VERSION from
# hack/testbed/versions.env; the script fails if the wrapper go.mod pins another one.
#
# Prints the binary's path on stdout; progress goes to stderr.
#
# Version bump: edit HELM_VERSION in hack/testbed/versions.env, then run the command this script
# prints when go.mod disagrees.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=../testbed/versions.env
. "$repo/hack/testbed/versions.env"

log() { printf 'build-helm: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[[ -n "${HELM_VERSION:-}" ]] || die "hack/testbed/versions.env sets no HELM_VERSION"
[[ "$HELM_VERSION" =~ ^v([0-9]+)\.[0-9]+\.[0-9]+$ ]] ||
	die "HELM_VERSION=$HELM_VERSION is not of the form vX.Y.Z"
major="${BASH_REMATCH[1]}"
module="helm.sh/helm/v$major"
[[ "$major" -ge 2 ]] || die "HELM_VERSION=$HELM_VERSION: only helm v2 and newer module paths are supported"
gomod="$here/helm/go.mod"

# The wrapper module must pin exactly HELM_VERSION, as a tool.
got="$(awk -v m="$module" '
	$1 == "require" { $1 = ""; $0 = $0 }
	$1 == m && $2 != "=>" { print $2; exit }
' "$gomod")"
has_tool="$(awk -v t="$module/cmd/helm" '
	$1 == "tool" && $2 == t { print "yes"; exit }
	$1 == "tool" && $2 == "(" { in_block = 1; next }
	in_block && $1 == ")" { in_block = 0 }
	in_block && $1 == t { print "yes"; exit }
' "$gomod")"
if [[ "$got" != "$HELM_VERSION" || "$has_tool" != yes ]]; then
	log "error: hack/tools/helm/go.mod requires $module ${got:-<nothing>}${has_tool:+ (tool)}, but versions.env has HELM_VERSION=$HELM_VERSION"
	log "  fix: (cd hack/tools/helm && go get -tool $module/cmd/helm@$HELM_VERSION && go mod tidy)"
	exit 1
fi

cache="${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/tools"
dest="$cache/helm-$HELM_VERSION/helm"

if [[ ! -x "$dest" ]]; then
	command -v go >/dev/null || die "go is not installed (needed to build helm; see hack/ensure-tools.sh)"
	mkdir -p "$(dirname "$dest")"
	# Concurrent builds wait for each other instead of building twice.
	exec 9>"$cache/.helm.lock"
	flock 9
	if [[ ! -x "$dest" ]]; then
		tmp="$(mktemp "$dest.tmp.XXXXXX")"
		trap 'rm -f "$tmp"' EXIT
		start="$(date +%s)"
		log "building helm $HELM_VERSION ($module/cmd/helm) ..."
		ldflags="-s -w -X $module/internal/version.version=$HELM_VERSION"
		ldflags+=" -X $module/internal/version.gitTreeState=clean"
		(cd "$here/helm" && CGO_ENABLED=0 go build -mod=readonly -trimpath -buildvcs=false \
			-ldflags "$ldflags" -o "$tmp" "$module/cmd/helm") || die "building helm failed"
		mv -f "$tmp" "$dest"
		trap - EXIT
		log "built $dest in $(($(date +%s) - start))s"
	fi
	exec 9>&-
fi

printf '%s\n' "$dest"
