#!/usr/bin/env bash
# Build promtool (Prometheus' rule checker and rule unit-test runner) from Go
# modules, for tests/observability. The binary is cached outside the
# repository, keyed by version, so only the first run on a machine pays for the
# build; later runs print the cached path and exit at once.
#
# Prints the binary's path on its last line of standard output.
#
# Environment:
#   QSCALER_TOOLS_CACHE   cache root (default: $HOME/.cache/qscaler-tools)
#   PROMTOOL_VERSION      Prometheus module version (default below)
set -euo pipefail

# Prometheus 3.x is published as Go module versions v0.3MM.P (Prometheus
# 3.MM.P: v0.316.0 is Prometheus 3.16.0); v0.316.0 builds with Go 1.26.
version=${PROMTOOL_VERSION:-v0.316.0}
minor=${version#v0.3}; minor=${minor%%.*}; patch=${version##*.}
release="3.$((10#$minor)).$patch"
bin="${QSCALER_TOOLS_CACHE:-$HOME/.cache/qscaler-tools}/promtool-$version"

if [[ -x $bin/promtool ]]; then
  echo "promtool $version cached in $bin" >&2
  echo "$bin/promtool"
  exit 0
fi

mkdir -p "$bin"
echo "building promtool $version into $bin (a cold build takes several minutes)" >&2
export GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)
v=github.com/prometheus/common/version
GOBIN="$bin" go install -trimpath \
  -ldflags "-s -w -X $v.Version=$release -X $v.Revision=module-$version -X $v.Branch=module" \
  "github.com/prometheus/prometheus/cmd/promtool@$version" >&2
end=$(date +%s)
{
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores with $(go version)"
  echo "wall_seconds: $((end - start))"
  echo "binary_bytes: $(stat -c %s "$bin/promtool")"
} >"$bin/build-stats.txt"
cat "$bin/build-stats.txt" >&2
echo "$bin/promtool"
