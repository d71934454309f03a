#!/usr/bin/env bash
# Builds the operator's OCI image archive on this machine, offline: a statically linked release
# binary in an image assembled from scratch by umoci (Debian's package).
#
#   target/image/spire-steward-<version>.oci.tar   an OCI image layout, tag <version>
#
# The image holds the binary (/usr/local/bin/spire-steward), /etc/passwd and /etc/group naming
# the non-root user 65532, and /tmp; nothing else (no shell). Its config runs as 65532:65532 and
# carries the OCI annotations (source, revision, version, created). The Dockerfile builds the same
# image for a CI that has a Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v umoci >/dev/null || {
	sudo=""
	[[ "$(id -u)" == 0 ]] || sudo=sudo
	echo "installing umoci" >&2
	$sudo apt-get update -qq && $sudo apt-get install -y -qq umoci >/dev/null
}

name=spire-steward
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# The commit's time, so that rebuilding one commit gives the same image.
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
source_url=${IMAGE_SOURCE:-https://github.com/spire-steward/spire-steward}
target=x86_64-unknown-linux-gnu
build_dir=target/image-build
out=target/image
archive="$out/$name-$version.oci.tar"

# glibc linked statically: the binary needs no library from the image. `spire-steward version`
# and the build_info metric show the revision and date.
SPIRE_STEWARD_REVISION="$revision" SPIRE_STEWARD_BUILD_DATE="$created" \
	RUSTFLAGS="-C target-feature=+crt-static" cargo build --locked --release --quiet \
	--target "$target" --target-dir "$build_dir" --bin "$name"
bin="$build_dir/$target/release/$name"
# No program interpreter and no shared library: nothing to load from the image.
if readelf -l "$bin" | grep -q INTERP || readelf -d "$bin" | grep -q NEEDED; then
	echo "$bin is not statically linked" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
layout="$work/layout"
rootless=()
[[ "$(id -u)" == 0 ]] || rootless=(--rootless)
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci unpack "${rootless[@]}" --image "$layout:$version" "$work/bundle"
rootfs="$work/bundle/rootfs"
install -d -m 0755 "$rootfs/usr/local/bin"
strip -o "$rootfs/usr/local/bin/$name" "$bin"
chmod 0755 "$rootfs/usr/local/bin/$name"
install -d -m 0755 "$rootfs/etc"
install -d -m 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
find "$rootfs" -exec touch -h -d "@$epoch" {} +
umoci repack --history.created "$created" --history.created_by "hack/image.sh" --image "$layout:$version" "$work/bundle"
annotations=(
	"org.opencontainers.image.title=$name"
	"org.opencontainers.image.description=Kubernetes operator that governs SPIRE workload identities"
	"org.opencontainers.image.source=$source_url"
	"org.opencontainers.image.revision=$revision"
	"org.opencontainers.image.version=$version"
	"org.opencontainers.image.created=$created"
	"org.opencontainers.image.licenses=Apache-2.0"
)
config_args=(
	--created "$created"
	--os linux --architecture amd64
	--config.user 65532:65532
	--config.workingdir /
	--config.entrypoint "/usr/local/bin/$name"
	--config.cmd run
	--history.created "$created" --history.created_by "hack/image.sh"
)
for a in "${annotations[@]}"; do
	config_args+=(--config.label "$a" --manifest.annotation "$a")
done
umoci config --image "$layout:$version" "${config_args[@]}"
umoci gc --layout "$layout"
mkdir -p "$out"
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner -C "$layout" -cf "$archive.tmp" .
mv "$archive.tmp" "$archive"
echo "$archive"
