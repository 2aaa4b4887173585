#!/usr/bin/env bash
# Serve an extra API group through the test apiserver's aggregation layer, the
# way a cluster serves metrics.k8s.io (metrics-server) or
# external.metrics.k8s.io (KEDA's metrics adapter).
#
# up.sh already gives kube-apiserver what aggregation needs: a front-proxy
# client certificate (--proxy-client-cert-file/--proxy-client-key-file) from
# its own CA, which the aggregated server trusts through the
# kube-system/extension-apiserver-authentication ConfigMap. This script does
# the per-server part:
#
#   aggregated-api.sh cert WORKDIR SERVICE NAMESPACE
#       a serving certificate for SERVICE.NAMESPACE.svc (and localhost,
#       127.0.0.1) signed by the cluster CA; prints "CERT KEY".
#   aggregated-api.sh register WORKDIR SERVICE NAMESPACE PORT GROUP VERSION
#       an ExternalName Service SERVICE -> localhost:PORT (the aggregator
#       resolves it to host:port; loopback IPs are refused in Endpoints) and
#       the APIService VERSION.GROUP pointing at it, with the cluster CA as its
#       caBundle; then waits until the APIService is Available.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"
cmd=${1:?usage: aggregated-api.sh cert|register WORKDIR ...}
w=${2:?WORKDIR}
p=$w/pki

cert() {
  local service=$1 namespace=$2 name="$1.$2"
  printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=serverAuth' \
    "subjectAltName=DNS:$service.$namespace.svc,DNS:$service.$namespace.svc.cluster.local,DNS:localhost,IP:127.0.0.1" \
    >"$p/$name.ext"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$service.$namespace.svc" \
    -keyout "$p/$name.key" -out "$p/$name.csr" >/dev/null 2>&1
  openssl x509 -req -in "$p/$name.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
    -days 3650 -extfile "$p/$name.ext" -out "$p/$name.crt" >/dev/null 2>&1
  echo "$p/$name.crt $p/$name.key"
}

register() {
  local service=$1 namespace=$2 port=$3 group=$4 version=$5
  local kubectl=("$(qscaler_k8s_bin_dir)/kubectl" --kubeconfig="$w/admin.kubeconfig")
  "${kubectl[@]}" get namespace "$namespace" >/dev/null 2>&1 || "${kubectl[@]}" create namespace "$namespace" >/dev/null
  "${kubectl[@]}" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: $service, namespace: $namespace}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: https, port: $port, protocol: TCP}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: $version.$group}
spec:
  group: $group
  version: $version
  groupPriorityMinimum: 100
  versionPriority: 100
  caBundle: $(base64 -w0 "$p/ca.crt")
  service: {name: $service, namespace: $namespace, port: $port}
YAML
  "${kubectl[@]}" wait --for=condition=Available --timeout=120s "apiservice/$version.$group" >/dev/null
}

case $cmd in
  cert) cert "${@:3}" ;;
  register) register "${@:3}" ;;
  *) echo "unknown command $cmd: use cert or register" >&2; exit 2 ;;
esac
