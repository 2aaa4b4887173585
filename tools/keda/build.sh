#!/usr/bin/env bash
# Build KEDA's operator and metrics adapter from Go modules, for `make race`
# (docs/race.md): the live KEDA that qscaler races against on the test control
# plane. Binaries are cached outside the repository, keyed by KEDA version, so
# only the first run on a machine pays for the build (about 9 minutes and a
# 3.5 GB peak on 2 cores); later runs print the cached directory and exit.
#
# `go install` refuses KEDA's module (its go.mod has replace directives), so
# the module is downloaded into the shared module cache and built in place.
#
# Prints the binary directory on its last line of standard output.
#
# Environment:
#   QSCALER_TOOLS_CACHE   cache root (default: $HOME/.cache/qscaler-tools)
#   KEDA_VERSION          KEDA module version (default below; v2.21.1 needs a newer Go)
set -euo pipefail

version=${KEDA_VERSION:-v2.21.0}
bin="${QSCALER_TOOLS_CACHE:-$HOME/.cache/qscaler-tools}/keda-$version"

if [[ -x $bin/keda && -x $bin/keda-adapter && -d $bin/crd ]]; then
  echo "KEDA $version cached in $bin" >&2
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
echo "building KEDA $version into $bin (a cold build takes about 9 minutes)" >&2
export GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)
dir=$(go mod download -json "github.com/kedacore/keda/v2@$version" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
v=github.com/kedacore/keda/v2/version
flags=(-trimpath -ldflags "-s -w -X $v.Version=${version#v} -X $v.GitCommit=module")
(cd "$dir" && go build "${flags[@]}" -o "$bin/keda" ./cmd/operator) >&2
(cd "$dir" && go build "${flags[@]}" -o "$bin/keda-adapter" ./cmd/adapter) >&2
rm -rf "$bin/crd"
cp -r "$dir/config/crd/bases" "$bin/crd"
chmod -R u+w "$bin/crd"
end=$(date +%s)
{
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores with $(go version)"
  echo "wall_seconds: $((end - start))"
  echo "binary_bytes: $(du -cb "$bin/keda" "$bin/keda-adapter" | tail -n 1 | cut -f1)"
} >"$bin/build-stats.txt"
echo "$bin"
