# shellcheck shell=bash
# Sourced by the build scripts of the small Go tools under hack/tools/<name>/, each a module of its
# own pinned by its go.mod and go.sum (build-argocd-lua.sh, build-kstatus.sh, build-cel.sh).
#
#   build_go_tool NAME MODULE
#
# builds hack/tools/NAME into a cache outside the repository, keyed by version:
#   ${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/tools/NAME-<version>/NAME
# <version> is the version of MODULE (the library the tool exists to run) that NAME's go.mod
# requires, then the first 12 hex digits of a SHA-256 of NAME's go.mod, go.sum and Go sources,
# so that editing the tool builds it anew. A binary already in the cache is not rebuilt, and
# concurrent builds wait for each other. Prints the binary's path on stdout; progress goes to
# stderr.

build_go_tool() {
	local name="$1" module="$2"
	local dir
	dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$name"
	log() { printf 'build-%s: %s\n' "$name" "$*" >&2; }
	die() {
		log "error: $*"
		exit 1
	}

	local pinned
	pinned="$(awk -v m="$module" '
		$1 == "require" && $2 == m { print $3; exit }
		$1 == m && $2 != "=>" { print $2; exit }
	' "$dir/go.mod")"
	[[ "$pinned" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]] ||
		die "hack/tools/$name/go.mod requires no version of $module; fix: (cd hack/tools/$name && go get $module@<version> && go mod tidy)"
	local digest
	digest="$(cd "$dir" && export LC_ALL=C && cat go.mod go.sum ./*.go | sha256sum | cut -c1-12)"

	local cache="${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/tools"
	local dest="$cache/$name-$pinned-$digest/$name"
	if [[ ! -x "$dest" ]]; then
		command -v go >/dev/null || die "go is not installed (see hack/ensure-tools.sh)"
		mkdir -p "$(dirname "$dest")"
		# Concurrent builds wait for each other instead of building twice.
		exec 9>"$cache/.$name.lock"
		flock 9
		if [[ ! -x "$dest" ]]; then
			local tmp start
			tmp="$(mktemp "$dest.tmp.XXXXXX")"
			# shellcheck disable=SC2064 # expand now: tmp is local to this function
			trap "rm -f '$tmp'" EXIT
			start="$(date +%s)"
			log "building $name ($module $pinned) ..."
			(cd "$dir" && CGO_ENABLED=0 go build -mod=readonly -trimpath -buildvcs=false -ldflags "-s -w" \
				-o "$tmp" .) || die "building $name failed"
			mv -f "$tmp" "$dest"
			trap - EXIT
			log "built $dest in $(($(date +%s) - start))s"
		fi
		exec 9>&-
	fi
	printf '%s\n' "$dest"
}
