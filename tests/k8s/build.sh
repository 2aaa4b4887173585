#!/usr/bin/env bash
# Build the real Kubernetes control plane used by qscaler's tests, from Go modules.
#
# kube-apiserver, kube-controller-manager and kube-scheduler come from the wrapper
# module in ./go (k8s.io/kubernetes with its staging modules replaced by their
# published v0.Y.Z releases), etcd from ./etcd, kwok from `go install`.
# Binaries are cached outside the repository, keyed by version, so only the first
# run on a machine pays for the build; later runs exit at once.
#
# Environment:
#   QSCALER_K8S_CACHE   cache root (default: $HOME/.cache/qscaler-k8s)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"

bin=$(qscaler_k8s_bin_dir)
export GOTOOLCHAIN=local CGO_ENABLED=0

wanted=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok)
missing=()
for b in "${wanted[@]}"; do [[ -x $bin/$b ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 && -d $bin/kwok-stages ]]; then
  echo "control plane binaries cached in $bin"
  cat "$bin/build-stats.txt" 2>/dev/null
  exit 0
fi

mkdir -p "$bin"
echo "building control plane v$K8S_VERSION (etcd $ETCD_VERSION, kwok $KWOK_VERSION) into $bin"
echo "a cold build takes tens of minutes on 2 cores; later runs reuse the cache"

minor=${K8S_VERSION#1.}; minor=${minor%%.*}
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

build_all() {
  (cd "$here/go" && go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubectl)
  (cd "$here/etcd" && go build -mod=readonly -trimpath -ldflags "-s -w" -o "$bin/etcd" \
      go.etcd.io/etcd/server/v3)
  GOBIN="$bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # kwok needs Stage objects; they ship in its module as a kustomize tree.
  local kwok_dir
  kwok_dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf "$bin/kwok-stages"
  cp -r "$kwok_dir/kustomize/stage" "$bin/kwok-stages"
  chmod -R u+w "$bin/kwok-stages"
}

stats="$bin/build-stats.txt"
start=$(date +%s)
if [[ -x /usr/bin/time ]]; then
  export -f build_all
  export here bin ldflags KWOK_VERSION
  /usr/bin/time -v -o "$stats.time" bash -c build_all
  peak_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$stats.time")
else
  build_all
  peak_kb=unknown
fi
end=$(date +%s)
{
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores"
  echo "wall_seconds: $((end - start))"
  echo "peak_rss_kb_of_largest_process: $peak_kb"
  echo "binaries_bytes: $(du -sb "$bin" | cut -f1)"
} >"$stats"
cat "$stats"
"$bin/kube-apiserver" --version
