#!/usr/bin/env bash
# Start a real Kubernetes control plane on 127.0.0.1 for qscaler's tests:
# etcd, kube-apiserver, kube-controller-manager (with the HPA controller),
# kube-scheduler, kwok (fake nodes whose pods become Ready, and a simulated
# kubelet /metrics/resource whose pod CPU a test sets by annotation) and
# metrics-server (metrics.k8s.io through the aggregation layer, so the HPA
# controller computes a real CPU-driven replica count).
#
# Usage: up.sh [WORKDIR]   (default: a new mktemp -d)
# Prints the work directory on its last line. It holds:
#   env              KUBECONFIG=..., QSCALER_K8S_WORKDIR=..., API server URL
#   admin.kubeconfig a cluster-admin kubeconfig (client certificate)
#   pids/<name>      the PID of every process started, for down.sh
#   logs/<name>.log  their output
# Ports come from QSCALER_K8S_*_PORT or free ones picked at start.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"
bin=$(qscaler_k8s_bin_dir)
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
  [[ -x $bin/$b ]] || { echo "missing $bin/$b: run tests/k8s/build.sh first" >&2; exit 1; }
done
ms_bin=$(qscaler_metrics_server_bin_dir)/metrics-server
[[ -x $ms_bin ]] || { echo "missing $ms_bin: run tests/k8s/build-metrics-server.sh first" >&2; exit 1; }

w=${1:-$(mktemp -d -t qscaler-k8s.XXXXXX)}
mkdir -p "$w"/{pki,logs,pids,etcd}
p=$w/pki

# Seven distinct free ports, picked at once (tests/free_ports.py says why).
read -r free_etcd free_peer free_api free_kcm free_sched free_kwok free_ms \
  < <(python3 "$here/../free_ports.py" 7)
etcd_port=${QSCALER_K8S_ETCD_PORT:-$free_etcd}
etcd_peer=${QSCALER_K8S_ETCD_PEER_PORT:-$free_peer}
api_port=${QSCALER_K8S_API_PORT:-$free_api}
kcm_port=${QSCALER_K8S_KCM_PORT:-$free_kcm}
sched_port=${QSCALER_K8S_SCHED_PORT:-$free_sched}
kwok_port=${QSCALER_K8S_KWOK_PORT:-$free_kwok}
ms_port=${QSCALER_K8S_METRICS_SERVER_PORT:-$free_ms}

# --- PKI ---------------------------------------------------------------------
ossl() { openssl "$@" >/dev/null 2>&1; }
ossl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=qscaler-test-ca" \
  -keyout "$p/ca.key" -out "$p/ca.crt"
printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
  'extendedKeyUsage=serverAuth' \
  'subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1' \
  >"$p/server.ext"
ossl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$p/apiserver.key" -out "$p/apiserver.csr"
ossl x509 -req -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
  -days 3650 -extfile "$p/server.ext" -out "$p/apiserver.crt"
printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
  'extendedKeyUsage=clientAuth' >"$p/client.ext"
ossl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kubernetes-admin" \
  -keyout "$p/admin.key" -out "$p/admin.csr"
ossl x509 -req -in "$p/admin.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
  -days 3650 -extfile "$p/client.ext" -out "$p/admin.crt"
# The aggregation layer's front proxy: kube-apiserver presents this client
# certificate (CN front-proxy-client, from its own CA, as kubeadm does) when
# it forwards a request to an aggregated API server such as metrics-server;
# that server trusts the CA through the extension-apiserver-authentication
# ConfigMap and reads the user from the X-Remote-* headers.
ossl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=qscaler-test-front-proxy-ca" \
  -keyout "$p/front-proxy-ca.key" -out "$p/front-proxy-ca.crt"
ossl req -newkey rsa:2048 -nodes -subj "/CN=front-proxy-client" \
  -keyout "$p/front-proxy-client.key" -out "$p/front-proxy-client.csr"
ossl x509 -req -in "$p/front-proxy-client.csr" -CA "$p/front-proxy-ca.crt" -CAkey "$p/front-proxy-ca.key" \
  -CAcreateserial -days 3650 -extfile "$p/client.ext" -out "$p/front-proxy-client.crt"
ossl genrsa -out "$p/sa.key" 2048
ossl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub"

server=https://127.0.0.1:$api_port
cat >"$w/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: qscaler-test
  cluster: {server: "$server", certificate-authority: "$p/ca.crt"}
users:
- name: admin
  user: {client-certificate: "$p/admin.crt", client-key: "$p/admin.key"}
contexts:
- name: qscaler-test
  context: {cluster: qscaler-test, user: admin}
current-context: qscaler-test
EOF

# --- processes ---------------------------------------------------------------
start() {
  local name=$1; shift
  "$@" >"$w/logs/$name.log" 2>&1 &
  echo $! >"$w/pids/$name"
}
wait_ok() {  # wait_ok NAME URL [curl args...]
  local name=$1 url=$2; shift 2
  for _ in $(seq 240); do
    curl -fsS "$@" "$url" >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$w/pids/$name")" 2>/dev/null || { echo "$name exited; log:" >&2; tail -30 "$w/logs/$name.log" >&2; return 1; }
    sleep 0.25
  done
  echo "$name not healthy at $url after 60s; log:" >&2; tail -30 "$w/logs/$name.log" >&2
  return 1
}

start etcd "$bin/etcd" --name=node0 --data-dir="$w/etcd" \
  --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
  --initial-cluster="node0=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync=true \
  --auto-compaction-retention=1 --quota-backend-bytes=4294967296 --log-level=warn
wait_ok etcd "http://127.0.0.1:$etcd_port/health"

start kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_port" --bind-address=127.0.0.1 --secure-port="$api_port" \
  --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
  --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" --client-ca-file="$p/ca.crt" \
  --requestheader-client-ca-file="$p/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --proxy-client-cert-file="$p/front-proxy-client.crt" --proxy-client-key-file="$p/front-proxy-client.key" \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=true --cert-dir="$w/apiserver-certs" \
  --enable-priority-and-fairness=false --profiling=false --v=1
wait_ok kube-apiserver "$server/readyz" --cacert "$p/ca.crt"

kc=(--kubeconfig="$w/admin.kubeconfig" --authentication-kubeconfig="$w/admin.kubeconfig"
    --authorization-kubeconfig="$w/admin.kubeconfig")
# The HPA flags are shortened for tests; production defaults are a 15s sync
# period and a 5m downscale stabilization (see docs/testing.md). `make race`
# sets the production values through these two variables.
hpa_sync=${QSCALER_K8S_HPA_SYNC_PERIOD:-2s}
hpa_downscale=${QSCALER_K8S_HPA_DOWNSCALE_STABILIZATION:-10s}
start kube-controller-manager "$bin/kube-controller-manager" "${kc[@]}" \
  --bind-address=127.0.0.1 --secure-port="$kcm_port" \
  --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics --leader-elect=false \
  --root-ca-file="$p/ca.crt" --service-account-private-key-file="$p/sa.key" --use-service-account-credentials=false \
  --controllers=node-lifecycle-controller,deployment-controller,replicaset-controller,statefulset-controller,horizontal-pod-autoscaler-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,pod-garbage-collector-controller,disruption-controller \
  --horizontal-pod-autoscaler-sync-period="$hpa_sync" --horizontal-pod-autoscaler-downscale-stabilization="$hpa_downscale" \
  --concurrent-deployment-syncs=10 --concurrent-replicaset-syncs=10 --kube-api-qps=200 --kube-api-burst=400
start kube-scheduler "$bin/kube-scheduler" "${kc[@]}" --bind-address=127.0.0.1 --secure-port="$sched_port" \
  --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics --leader-elect=false \
  --kube-api-qps=200 --kube-api-burst=400
# kwok serves each fake node's kubelet resource metrics on its own server
# (--node-ip/--node-port go into the node's status for metrics-server); pod CPU
# comes from kwok-metrics.yaml.
start kwok "$bin/kwok" --kubeconfig="$w/admin.kubeconfig" --config="$bin/kwok-stages/fast" \
  --config="$here/kwok-metrics.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds=40 --server-address="127.0.0.1:$kwok_port" \
  --node-ip=127.0.0.1 --node-port="$kwok_port"
wait_ok kube-controller-manager "https://127.0.0.1:$kcm_port/healthz" -k
wait_ok kube-scheduler "https://127.0.0.1:$sched_port/healthz" -k
wait_ok kwok "http://127.0.0.1:$kwok_port/healthz"

# metrics-server scrapes kwok over plain HTTP (kwok's server has no TLS here;
# a real kubelet would be scraped over HTTPS) every 10 s, its minimum.
read -r ms_cert ms_key < <("$here/aggregated-api.sh" cert "$w" metrics-server kube-system)
start metrics-server "$ms_bin" --secure-port="$ms_port" --bind-address=127.0.0.1 \
  --tls-cert-file="$ms_cert" --tls-private-key-file="$ms_key" --cert-dir="$w/metrics-server-certs" \
  --kubeconfig="$w/admin.kubeconfig" --authentication-kubeconfig="$w/admin.kubeconfig" \
  --authorization-kubeconfig="$w/admin.kubeconfig" \
  --kubelet-use-node-status-port --kubelet-preferred-address-types=InternalIP \
  --deprecated-kubelet-completely-insecure --metric-resolution=10s --kubelet-request-timeout=5s --v=1
# /livez, not /readyz: it is ready only after two scrapes of nodes the tests add later.
wait_ok metrics-server "https://127.0.0.1:$ms_port/livez" -k
"$here/aggregated-api.sh" register "$w" metrics-server kube-system "$ms_port" metrics.k8s.io v1beta1

cat >"$w/env" <<EOF
KUBECONFIG=$w/admin.kubeconfig
QSCALER_K8S_WORKDIR=$w
QSCALER_K8S_SERVER=$server
QSCALER_K8S_CA=$p/ca.crt
QSCALER_K8S_KWOK_URL=http://127.0.0.1:$kwok_port
EOF
echo "$w"
