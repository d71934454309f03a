#!/usr/bin/env bash
# Installs the official Prometheus Python client (its exposition parsers read /metrics in the
# metrics test) into a virtual environment outside the repository, keyed by version:
#   ${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/tools/prometheus-client-<version>/
# An installation already in the cache is not redone.
#
# Prints the environment's python on stdout; progress goes to stderr.
set -euo pipefail

version=0.26.0
cache="${SPIRE_STEWARD_CACHE:-$HOME/.cache/spire-steward}/tools"
dest="$cache/prometheus-client-$version"

if [[ ! -x "$dest/bin/python" ]] || ! "$dest/bin/python" -c 'import prometheus_client' 2>/dev/null; then
	mkdir -p "$cache"
	exec 9>"$cache/.prometheus-client.lock"
	flock 9
	if [[ ! -x "$dest/bin/python" ]] || ! "$dest/bin/python" -c 'import prometheus_client' 2>/dev/null; then
		printf 'install-prometheus-client: installing prometheus-client %s into %s\n' "$version" "$dest" >&2
		rm -rf "$dest.tmp"
		python3 -m venv "$dest.tmp"
		"$dest.tmp/bin/pip" install --quiet --disable-pip-version-check "prometheus-client==$version" >&2
		rm -rf "$dest"
		mv "$dest.tmp" "$dest"
		# The environment was made under another name: its scripts name that one.
		sed -i "s|$dest.tmp|$dest|g" "$dest"/bin/* 2>/dev/null || true
	fi
fi
printf '%s\n' "$dest/bin/python"
