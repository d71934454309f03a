#!/usr/bin/env bash
# Builds the testbed binaries (kube-apiserver, kube-controller-manager,
# kubectl, etcd, spire-server, spire-agent) from the Go wrapper modules next
# to this script into a cache outside the repository, keyed by version:
#   ${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/testbed/<name>-<version>/<binary>
# Binaries already in the cache are not rebuilt.
#
# Usage: build.sh [kubernetes|etcd|spire]...   (default: all)
set -euo pipefail

TB_NAME=build
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t_total="$(tb_now)"

# Version of a module required by a go.mod ("" if none).
mod_require() {
	awk -v m="$2" '
		$1 == "require" { $1 = ""; $0 = $0 }
		$1 == m && $2 != "=>" { print $2; exit }
	' "$1"
}

drift=0
check_require() {
	local dir="$1" mod="$2" want="$3" key="$4" fix="$5" got
	got="$(mod_require "$TB_HERE/$dir/go.mod" "$mod")"
	if [[ "$got" != "$want" ]]; then
		tb_log "error: hack/testbed/$dir/go.mod requires $mod ${got:-<nothing>}, but versions.env has $key=$want"
		tb_log "  fix: $fix"
		drift=1
	fi
}

# The wrapper modules must match versions.env exactly.
check_versions() {
	local staging="v0.${KUBERNETES_VERSION#v1.}" bad
	check_require kube k8s.io/kubernetes "$KUBERNETES_VERSION" KUBERNETES_VERSION \
		"hack/testbed/gen-kube-mod.sh"
	bad="$(awk -v v="$staging" '$2 == "=>" && $1 ~ /^k8s\.io\// && $4 != v { print $1 " " $4 }' \
		"$TB_HERE/kube/go.mod")"
	if [[ -n "$bad" ]]; then
		tb_log "error: hack/testbed/kube/go.mod replaces $(wc -l <<<"$bad") staging module(s) at versions other than $staging (e.g. $(head -n1 <<<"$bad"))"
		tb_log "  fix: hack/testbed/gen-kube-mod.sh"
		drift=1
	fi
	check_require etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" ETCD_VERSION \
		"(cd hack/testbed/etcd && go get -tool go.etcd.io/etcd/server/v3@$ETCD_VERSION && go mod tidy)"
	check_require spire github.com/spiffe/spire "$SPIRE_VERSION" SPIRE_VERSION \
		"(cd hack/testbed/spire && go get -tool github.com/spiffe/spire/cmd/spire-server@$SPIRE_VERSION github.com/spiffe/spire/cmd/spire-agent@$SPIRE_VERSION)"
	((drift == 0)) || exit 1
}

# build_one DEST MODDIR CGO PKG [LDFLAGS]
build_one() {
	local dest="$1" moddir="$2" cgo="$3" pkg="$4" ldflags="-s -w ${5:-}" t tmp
	[[ -x "$dest" ]] && return 0
	command -v go >/dev/null || tb_die "go is not installed (needed to build $(basename "$dest"))"
	if [[ "$cgo" == 1 ]] && ! command -v "$(go env CC)" >/dev/null; then
		tb_die "a C compiler ($(go env CC)) is needed to build $(basename "$dest") (sqlite3 needs cgo)"
	fi
	mkdir -p "$(dirname "$dest")"
	tmp="$dest.tmp.$$"
	t="$(tb_now)"
	tb_log "building $(basename "$dest") ($pkg) ..."
	if ! (cd "$TB_HERE/$moddir" && CGO_ENABLED="$cgo" go build -mod=readonly -trimpath -buildvcs=false \
		-ldflags "$ldflags" -o "$tmp" "$pkg"); then
		rm -f "$tmp"
		tb_die "building $(basename "$dest") failed"
	fi
	mv -f "$tmp" "$dest"
	tb_log "built $dest in $(tb_since "$t")s"
	built=1
}

kube_ldflags() {
	local minor="${KUBERNETES_VERSION#v1.}" flags="" p
	minor="${minor%%.*}"
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
		flags+=" -X $p.gitTreeState=clean"
	done
	printf '%s' "$flags"
}

build_kubernetes() {
	build_one "$KUBE_APISERVER_BIN" kube 0 k8s.io/kubernetes/cmd/kube-apiserver "$(kube_ldflags)"
	build_one "$KUBE_CONTROLLER_MANAGER_BIN" kube 0 k8s.io/kubernetes/cmd/kube-controller-manager "$(kube_ldflags)"
	build_one "$KUBECTL_BIN" kube 0 k8s.io/kubernetes/cmd/kubectl "$(kube_ldflags)"
}
build_etcd() {
	build_one "$ETCD_BIN" etcd 0 go.etcd.io/etcd/server/v3
}
build_spire() {
	local ldflags="-X github.com/spiffe/spire/pkg/common/version.gittag=${SPIRE_VERSION#v}"
	build_one "$SPIRE_SERVER_BIN" spire 1 github.com/spiffe/spire/cmd/spire-server "$ldflags"
	build_one "$SPIRE_AGENT_BIN" spire 1 github.com/spiffe/spire/cmd/spire-agent "$ldflags"
}

components=("$@")
((${#components[@]} > 0)) || components=(kubernetes etcd spire)
for c in "${components[@]}"; do
	case "$c" in
	kubernetes | etcd | spire) ;;
	*) tb_die "unknown component '$c' (expected kubernetes, etcd or spire)" ;;
	esac
done

check_versions

missing=0
for c in "${components[@]}"; do
	case "$c" in
	kubernetes) [[ -x "$KUBE_APISERVER_BIN" && -x "$KUBE_CONTROLLER_MANAGER_BIN" && -x "$KUBECTL_BIN" ]] || missing=1 ;;
	etcd) [[ -x "$ETCD_BIN" ]] || missing=1 ;;
	spire) [[ -x "$SPIRE_SERVER_BIN" && -x "$SPIRE_AGENT_BIN" ]] || missing=1 ;;
	esac
done

built=0
if ((missing)); then
	# Concurrent builds wait for each other instead of building twice.
	mkdir -p "$TB_CACHE"
	exec 9>"$TB_CACHE/.build.lock"
	flock 9
	for c in "${components[@]}"; do
		"build_$c"
	done
	exec 9>&-
fi

if ((built)); then
	tb_log "done in $(tb_since "$t_total")s"
else
	tb_log "binaries up to date in $TB_CACHE ($(tb_since "$t_total")s)"
fi
