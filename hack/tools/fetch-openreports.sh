#!/usr/bin/env bash
# Fetches the OpenReports CRDs (ClusterReport and Report, openreports.io/v1alpha1) of the pinned
# Go module github.com/openreports/reports-api into a cache outside the repository, keyed by
# version:
#   ${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/tools/openreports-<version>/
# holding openreports.io_clusterreports.yaml and openreports.io_reports.yaml. A cache already
# filled is not fetched again. The module comes from the Go module proxy, checked against the
# Go checksum database like any other module.
#
# Prints the directory's path on stdout; progress goes to stderr.
#
# Version bump: edit OPENREPORTS_VERSION below.
set -euo pipefail

OPENREPORTS_VERSION=v0.2.1
module=github.com/openreports/reports-api
files=(openreports.io_clusterreports.yaml openreports.io_reports.yaml)

log() { printf 'fetch-openreports: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

cache="${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/tools"
dest="$cache/openreports-$OPENREPORTS_VERSION"

complete() {
	local f
	for f in "${files[@]}"; do
		[[ -s "$dest/$f" ]] || return 1
	done
}

if ! complete; then
	command -v go >/dev/null || die "go is not installed (needed to fetch $module; see hack/ensure-tools.sh)"
	mkdir -p "$cache"
	# Concurrent fetches wait for each other instead of fetching twice.
	exec 9>"$cache/.openreports.lock"
	flock 9
	if ! complete; then
		log "fetching $module@$OPENREPORTS_VERSION ..."
		# Outside any module, so that no go.mod of the caller is read or changed.
		outside="$(mktemp -d)"
		dir="$(cd "$outside" && GOFLAGS=-mod=mod go mod download -json "$module@$OPENREPORTS_VERSION" |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
		rmdir "$outside"
		[[ -n "$dir" && -d "$dir/config/crd" ]] || die "go mod download gave no module directory with config/crd"
		tmp="$(mktemp -d "$dest.tmp.XXXXXX")"
		trap 'rm -rf "$tmp"' EXIT
		for f in "${files[@]}"; do
			[[ -s "$dir/config/crd/$f" ]] || die "$module@$OPENREPORTS_VERSION has no config/crd/$f"
			cp "$dir/config/crd/$f" "$tmp/$f"
		done
		chmod 0755 "$tmp"
		rm -rf "$dest"
		mv "$tmp" "$dest"
		trap - EXIT
		log "fetched into $dest"
	fi
	exec 9>&-
fi

printf '%s\n' "$dest"
