#!/usr/bin/env bash
# Builds spire-controller-manager from the Go wrapper module in hack/tools/scm/ (pinned by its
# go.mod and go.sum), the real peer the migration test starts from, into a cache outside the
# repository, keyed by version:
#   ${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/tools/spire-controller-manager-<version>/
#     spire-controller-manager   the binary
#     crds/                      its CustomResourceDefinitions (config/crd/bases of the module)
# A build already in the cache is not redone. The version is SCM_VERSION from
# hack/testbed/versions.env; the script fails if the wrapper go.mod pins another one.
#
# Prints the directory on stdout; progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=../testbed/versions.env
. "$repo/hack/testbed/versions.env"

log() { printf 'build-scm: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

module=github.com/spiffe/spire-controller-manager
[[ -n "${SCM_VERSION:-}" ]] || die "hack/testbed/versions.env sets no SCM_VERSION"
got="$(awk -v m="$module" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$here/scm/go.mod")"
if [[ "$got" != "$SCM_VERSION" ]]; then
	die "hack/tools/scm/go.mod requires $module ${got:-<nothing>}, but versions.env has SCM_VERSION=$SCM_VERSION; fix: (cd hack/tools/scm && go get -tool $module/cmd@$SCM_VERSION && go mod tidy)"
fi

cache="${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/tools"
dest="$cache/spire-controller-manager-$SCM_VERSION"

if [[ ! -x "$dest/spire-controller-manager" ]]; then
	command -v go >/dev/null || die "go is not installed (see hack/ensure-tools.sh)"
	mkdir -p "$cache"
	exec 9>"$cache/.scm.lock"
	flock 9
	if [[ ! -x "$dest/spire-controller-manager" ]]; then
		tmp="$(mktemp -d "$dest.tmp.XXXXXX")"
		trap 'rm -rf "$tmp"' EXIT
		start="$(date +%s)"
		log "building spire-controller-manager $SCM_VERSION ..."
		(cd "$here/scm" && CGO_ENABLED=0 go build -mod=readonly -trimpath -buildvcs=false -ldflags "-s -w" \
			-o "$tmp/spire-controller-manager" "$module/cmd") || die "building spire-controller-manager failed"
		src="$(cd "$here/scm" && go list -mod=readonly -m -f '{{.Dir}}' "$module")"
		mkdir -p "$tmp/crds"
		cp "$src"/config/crd/bases/*.yaml "$tmp/crds/"
		chmod -R u+w "$tmp"
		rm -rf "$dest"
		mv "$tmp" "$dest"
		trap - EXIT
		log "built $dest in $(($(date +%s) - start))s"
	fi
	exec 9>&-
fi

printf '%s\n' "$dest"
