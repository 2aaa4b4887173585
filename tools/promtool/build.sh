#!/usr/bin/env bash
# Provide promtool (Prometheus' rule checker and rule unit-test runner) for
# tests/observability: the binary from Debian's `prometheus` package (2.42 on
# Debian 12), unpacked from the .deb into a cache outside the repository,
# keyed by the package version. Nothing is installed: no prometheus service
# starts, and the package's dependencies are not needed (promtool links
# only libc). This replaced a build from Go modules that took 9.3 minutes
# cold on 2 cores; the download takes seconds. The rules use nothing newer
# than Prometheus 2.42 understands (the tests would say so).
#
# Prints the binary's path on its last line of standard output.
#
# Environment:
#   QSCALER_TOOLS_CACHE   cache root (default: $HOME/.cache/qscaler-tools)
set -euo pipefail

candidate() { apt-cache policy prometheus 2>/dev/null | sed -n 's/^ *Candidate: //p'; }
version=$(candidate)
if [[ -z $version || $version == "(none)" ]]; then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q >&2
  version=$(candidate)
fi
[[ -n $version && $version != "(none)" ]] || { echo "no prometheus package in the apt sources" >&2; exit 1; }
bin="${QSCALER_TOOLS_CACHE:-$HOME/.cache/qscaler-tools}/promtool-debian-${version//[:+~]/_}"

if [[ -x $bin/promtool ]]; then
  echo "promtool $version cached in $bin" >&2
  echo "$bin/promtool"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"; chown _apt "$work" 2>/dev/null || true  # apt downloads as _apt
start=$(date +%s)
(cd "$work" && apt-get download -q "prometheus=$version" >&2)
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
mkdir -p "$bin"
install -m 755 "$work/root/usr/bin/promtool" "$bin/promtool.partial"
mv "$bin/promtool.partial" "$bin/promtool"
echo "promtool $version unpacked into $bin in $(( $(date +%s) - start )) s" >&2
"$bin/promtool" --version >&2
echo "$bin/promtool"
