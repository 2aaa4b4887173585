# Versions of the test control plane, sourced by build.sh, up.sh and the CI script.
# The Kubernetes and etcd versions must match go/go.mod and etcd/go.mod.
K8S_VERSION=1.34.4
ETCD_VERSION=3.6.13
KWOK_VERSION=v0.8.0

qscaler_k8s_bin_dir() {
  echo "${QSCALER_K8S_CACHE:-$HOME/.cache/qscaler-k8s}/k8s-v$K8S_VERSION-etcd-v$ETCD_VERSION-kwok-$KWOK_VERSION"
}

# metrics-server for the CPU-HPA tests (tests/k8s/build-metrics-server.sh); 0.7+
# reads the kubelet path from the node annotation metrics.k8s.io/resource-metrics-path.
METRICS_SERVER_VERSION=v0.8.0

qscaler_metrics_server_bin_dir() {
  echo "${QSCALER_K8S_CACHE:-$HOME/.cache/qscaler-k8s}/metrics-server-$METRICS_SERVER_VERSION"
}
