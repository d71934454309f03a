#!/usr/bin/env bash
# Makes sure the tools the build and the testbed need are installed; installs what is missing.
# Source it (`. hack/ensure-tools.sh`) so that a Go it installs is on PATH afterwards.
#
# - Debian packages: gcc (spire-server's sqlite datastore needs cgo), make, git, curl, openssl,
#   unzip, util-linux (flock), procps, and for the image umoci, runc and binutils.
# - Go >= GO_MIN: a missing or older Go is replaced by the official toolchain module fetched from
#   the Go module proxy, cached under ~/.cache/spire-steward.
# - Rust >= RUST_MIN (Cargo.toml's rust-version) with rustfmt and clippy: a missing or older
#   toolchain is installed or updated with rustup, which is itself installed when missing.

GO_MIN=1.26.6
GO_TOOLCHAIN=go1.26.8
RUST_MIN=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../Cargo.toml")

_ensure_apt() {
	local missing=() tool
	for tool in gcc:gcc make:make git:git curl:curl openssl:openssl unzip:unzip flock:util-linux pgrep:procps \
		umoci:umoci runc:runc readelf:binutils; do
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

_rust_new_enough() {
	command -v cargo >/dev/null || return 1
	local have
	have=$(rustc --version 2>/dev/null | awk '{ print $2 }')
	[[ -n "$have" ]] && [[ "$(printf '%s\n%s\n' "$RUST_MIN" "$have" | sort -V | head -n1)" == "$RUST_MIN" ]]
}

_ensure_rust() {
	[[ -d "$HOME/.cargo/bin" ]] && export PATH="$HOME/.cargo/bin:$PATH"
	if ! _rust_new_enough; then
		if ! command -v rustup >/dev/null; then
			echo "installing rustup" >&2
			curl -fsSL https://sh.rustup.rs | sh -s -- -y --profile minimal --no-modify-path >&2 || {
				echo "could not install rustup; install Rust >= $RUST_MIN first" >&2
				return 1
			}
			export PATH="$HOME/.cargo/bin:$PATH"
		fi
		echo "installing the stable Rust toolchain (need >= $RUST_MIN)" >&2
		rustup toolchain install stable --profile minimal >&2 && rustup default stable >&2
		_rust_new_enough || { echo "no usable Rust >= $RUST_MIN" >&2; return 1; }
	fi
	cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
}

_ensure_apt && _ensure_go && _ensure_rust
