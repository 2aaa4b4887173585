#!/usr/bin/env bash
# Build helm (for the chart tests in tests/chart) from Go modules: helm.sh/helm/v3
# is served by the Go module proxy. Cached outside the repository, keyed by
# version (see tools/go-tool.sh); prints the binary's path on its last line.
#
# Environment:
#   QSCALER_TOOLS_CACHE   cache root (default: $HOME/.cache/qscaler-tools)
#   HELM_VERSION          helm.sh/helm/v3 version (default below)
set -euo pipefail
source "$(dirname "$0")/../go-tool.sh"
version=${HELM_VERSION:-v3.22.0}
go_tool_cached helm "$version" helm

dir=$(go_tool_dir helm "$version")
mkdir -p "$dir"
echo "building helm $version into $dir (a cold build takes a few minutes)" >&2
export GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)
v=helm.sh/helm/v3/internal/version
GOBIN="$dir" go install -trimpath \
  -ldflags "-s -w -X $v.version=$version -X $v.gitTreeState=clean" \
  "helm.sh/helm/v3/cmd/helm@$version" >&2
go_tool_record "$dir" "$start"
echo "$dir/helm"
