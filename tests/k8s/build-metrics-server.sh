#!/usr/bin/env bash
# Build metrics-server (the v1beta1.metrics.k8s.io aggregated API that the HPA
# controller reads pod CPU from) from Go modules, for the CPU-HPA end-to-end
# tests. The binary is cached outside the repository next to the control plane,
# keyed by version, so only the first run on a machine pays for the build; later
# runs exit at once. It shares the machine's Go module and build caches with
# tests/k8s/build.sh.
#
# Environment:
#   QSCALER_K8S_CACHE   cache root (default: $HOME/.cache/qscaler-k8s)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"

bin=$(qscaler_metrics_server_bin_dir)
if [[ -x $bin/metrics-server ]]; then
  echo "metrics-server $METRICS_SERVER_VERSION cached in $bin"
  cat "$bin/build-stats.txt" 2>/dev/null
  exit 0
fi

mkdir -p "$bin"
echo "building metrics-server $METRICS_SERVER_VERSION into $bin (a cold build takes a few minutes)"
export GOTOOLCHAIN=local CGO_ENABLED=0
# metrics-server reads its version from client-go's version package, as its Makefile stamps it.
v=k8s.io/client-go/pkg/version
ldflags="-s -w -X $v.gitVersion=$METRICS_SERVER_VERSION -X $v.buildDate=1970-01-01T00:00:00Z"
install=(go install -trimpath -ldflags "$ldflags"
  "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION")

stats="$bin/build-stats.txt"
start=$(date +%s)
if [[ -x /usr/bin/time ]]; then
  GOBIN="$bin" /usr/bin/time -v -o "$stats.time" "${install[@]}"
  peak_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$stats.time")
else
  GOBIN="$bin" "${install[@]}"
  peak_kb=unknown
fi
end=$(date +%s)
{
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores with $(go version)"
  echo "wall_seconds: $((end - start))"
  echo "peak_rss_kb_of_largest_process: $peak_kb"
  echo "binary_bytes: $(stat -c %s "$bin/metrics-server")"
} >"$stats"
cat "$stats"
