#!/usr/bin/env bash
# Builds the template-parity program (Go's text/template with spire-controller-manager's data
# shape) into a cache outside the repository and prints the binary's path on stdout:
#   ${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/template-parity/<key>/template-parity
# The key hashes the Go version, go.mod, go.sum and the sources, so a binary is built once per
# change and reused after that. Concurrent builds wait for each other instead of building twice.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'template-parity: %s\n' "$*" >&2; }

command -v go >/dev/null || {
	log "error: go is not installed (run: . hack/ensure-tools.sh)"
	exit 1
}

key="$(
	cd "$here"
	{
		go env GOVERSION GOOS GOARCH
		sha256sum go.mod go.sum ./*.go
	} | sha256sum | cut -c1-16
)"
cache="${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/template-parity"
bin="$cache/$key/template-parity"

if [[ ! -x "$bin" ]]; then
	mkdir -p "$cache"
	exec 9>"$cache/.build.lock"
	flock 9
	if [[ ! -x "$bin" ]]; then
		mkdir -p "$(dirname "$bin")"
		tmp="$bin.tmp.$$"
		log "building $bin ..."
		if ! (cd "$here" && CGO_ENABLED=0 go build -mod=readonly -trimpath -buildvcs=false \
			-ldflags "-s -w" -o "$tmp" .); then
			rm -f "$tmp"
			log "error: build failed"
			exit 1
		fi
		mv -f "$tmp" "$bin"
	fi
	exec 9>&-
fi
printf '%s\n' "$bin"
