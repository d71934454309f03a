#!/usr/bin/env bash
# Makes sure the tools the build and the testbed need are installed; installs what is missing.
# Source it (`. hack/ensure-tools.sh`) so that a Go it installs is on PATH afterwards.
#
# - Debian packages: gcc (spire-server's sqlite datastore needs cgo), make, git, curl, openssl,
#   unzip, util-linux (flock), procps.
# - Go >= GO_MIN: a missing or older Go is replaced by the official toolchain module fetched from
#   the Go module proxy, cached under ~/.cache/spire-steward.
# - Rust: cargo with rustfmt and clippy must be installed already.

GO_MIN=1.26.6
GO_TOOLCHAIN=go1.26.8

_ensure_apt() {
	local missing=() tool pkg
	for tool in gcc:gcc make:make git:git curl:curl openssl:openssl unzip:unzip flock:util-linux pgrep:procps; do
		command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
	done
	((${#missing[@]} == 0)) && return 0
	echo "installing ${missing[*]}" >&2
	local sudo=""
	[[ "$(id -u)" == 0 ]] || sudo=sudo
	$sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

_go_new_enough() {
	command -v go >/dev/null || return 1
	local have
	have=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
	[[ -n "$have" ]] && [[ "$(printf '%s\n%s\n' "$GO_MIN" "$have" | sort -V | head -n1)" == "$GO_MIN" ]]
}

_ensure_go() {
	_go_new_enough && return 0
	local root="${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/$GO_TOOLCHAIN"
	if [[ ! -x "$root/bin/go" ]]; then
		local proxy="${GOPROXY:-https://proxy.golang.org}"
		proxy="${proxy%%,*}"
		local zip
		zip=$(mktemp --suffix=.zip)
		echo "fetching $GO_TOOLCHAIN from the Go module proxy" >&2
		curl -fsSL -o "$zip" "$proxy/golang.org/toolchain/@v/v0.0.1-$GO_TOOLCHAIN.linux-amd64.zip"
		local unpack
		unpack=$(mktemp -d)
		unzip -q "$zip" -d "$unpack"
		mkdir -p "$(dirname "$root")"
		mv "$unpack/golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-amd64" "$root"
		rm -rf "$zip" "$unpack"
	fi
	export PATH="$root/bin:$PATH"
	_go_new_enough || { echo "no usable Go >= $GO_MIN" >&2; return 1; }
}

_ensure_rust() {
	command -v cargo >/dev/null || { echo "cargo is missing: install Rust (rustup) first" >&2; return 1; }
	cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
}

_ensure_apt && _ensure_go && _ensure_rust
