"""A live KEDA on the test control plane: operator, metrics adapter, CRDs, APIService.

KEDA is built from Go modules by tools/keda/build.sh (cached outside the
repository). Here it runs as two local processes, wired the way its Helm chart
wires it in a cluster, with what a loopback control plane needs instead:

- the CRDs from KEDA's module (`config/crd/bases`), applied server-side;
- the metrics adapter registered as the `v1beta1.external.metrics.k8s.io`
  APIService behind an `ExternalName` Service pointing at `localhost` (the
  aggregator resolves it to host:port; Endpoints refuse loopback addresses);
- operator ↔ adapter gRPC over mutual TLS with a CA and one certificate made
  here (certificate rotation off, as KEDA allows when certificates are given);
- `WATCH_NAMESPACE=""` (all namespaces) and the admin kubeconfig for both.

The adapter ignores SIGTERM, so `stop()` ends it with SIGKILL after a grace.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.k8s import ControlPlane, wait_for

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "keda"


def build() -> Path:
    """The cached KEDA binaries' directory (building them on first use)."""
    done = subprocess.run(
        [str(REPO / "tools" / "keda" / "build.sh")], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"tools/keda/build.sh failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass
class Keda:
    """The running operator and adapter, and what they need to be stopped."""

    plane: ControlPlane
    bin_dir: Path
    work: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self) -> None:
        """Install the CRDs and the APIService, start both processes, wait until served."""
        self.work.mkdir(parents=True, exist_ok=True)
        certs = self.work / "certs"
        make_certs(certs)
        self.plane.kubectl("apply", "--server-side", "-f", str(self.bin_dir / "crd"))
        grpc_port, adapter_port = free_port(), free_port()
        self.plane.kubectl("apply", "-f", "-", stdin=_api_objects(adapter_port))
        env = {
            **os.environ,
            "KUBECONFIG": str(self.plane.kubeconfig),
            "WATCH_NAMESPACE": "",
            "POD_NAMESPACE": NAMESPACE,
            "POD_NAME": "keda-operator",
            "KEDA_CLUSTER_OBJECT_NAMESPACE": NAMESPACE,
        }
        self._spawn(
            "keda-operator",
            env,
            [
                str(self.bin_dir / "keda"),
                "--leader-elect=false",
                "--enable-cert-rotation=false",
                f"--cert-dir={certs}",
                f"--metrics-service-bind-address=127.0.0.1:{grpc_port}",
                f"--metrics-bind-address=127.0.0.1:{free_port()}",
                f"--health-probe-bind-address=127.0.0.1:{free_port()}",
                "--enable-webhook-patching=false",
                "--enable-apiservice-patching=false",
                "--zap-log-level=info",
            ],
        )
        self._spawn(
            "keda-adapter",
            env,
            [
                str(self.bin_dir / "keda-adapter"),
                f"--kubeconfig={self.plane.kubeconfig}",
                f"--authentication-kubeconfig={self.plane.kubeconfig}",
                f"--authorization-kubeconfig={self.plane.kubeconfig}",
                f"--lister-kubeconfig={self.plane.kubeconfig}",
                f"--secure-port={adapter_port}",
                "--bind-address=127.0.0.1",
                f"--cert-dir={certs}",
                f"--tls-cert-file={certs / 'tls.crt'}",
                f"--tls-private-key-file={certs / 'tls.key'}",
                f"--metrics-service-address=127.0.0.1:{grpc_port}",
                "--metrics-service-grpc-authority=localhost",
                f"--port={free_port()}",
            ],
        )
        wait_for("KEDA's external metrics APIService to be Available", self._available, 120, 1)

    def _spawn(self, name: str, env: dict[str, str], argv: list[str]) -> None:
        log = (self.work / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def _available(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}):\n{self.log(name)}")
        out = self.plane.kubectl(
            "get",
            "apiservice",
            "v1beta1.external.metrics.k8s.io",
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Available')].status}",
        )
        return out.strip() == "True"

    def log(self, name: str, lines: int = 40) -> str:
        """The tail of one process's output, for failure reports."""
        path = self.work / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop both processes (SIGKILL after 5 s: the adapter ignores SIGTERM)."""
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def scaled_object(
    *, name: str, namespace: str, deployment: str, host: str, queue: str, config: Mapping[str, Any]
) -> dict[str, Any]:
    """A ScaledObject for one arm: KEDA's defaults plus the tuned knobs in `config`.

    `config` holds `mode` (QueueLength or MessageRate), `value`, `window`
    (the HPA's scale-down stabilization, seconds; None leaves the HPA without
    `behavior`, as plain KEDA does) and `polling` (seconds).
    """
    spec: dict[str, Any] = {
        "scaleTargetRef": {"name": deployment},
        "pollingInterval": config["polling"],
        "cooldownPeriod": 300,
        "minReplicaCount": 0,
        "maxReplicaCount": 50,
        "triggers": [
            {
                "type": "rabbitmq",
                "metadata": {
                    "protocol": "http",
                    "host": host,
                    "queueName": queue,
                    "mode": config["mode"],
                    "value": str(config["value"]),
                },
            }
        ],
    }
    if config.get("window") is not None:
        spec["advanced"] = {
            "horizontalPodAutoscalerConfig": {
                "behavior": {
                    "scaleDown": {"stabilizationWindowSeconds": config["window"]},
                }
            }
        }
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def make_certs(directory: Path) -> None:
    """ca.crt, and tls.crt/tls.key for localhost and 127.0.0.1, client and server use."""
    directory.mkdir(parents=True, exist_ok=True)

    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    ossl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=qscaler-race-keda-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    (directory / "tls.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )
    ossl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "tls.key",
        "-out",
        "tls.csr",
    )
    ossl(
        "x509",
        "-req",
        "-in",
        "tls.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        "tls.ext",
        "-out",
        "tls.crt",
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api_objects(adapter_port: int) -> str:
    return f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: v1
kind: Service
metadata: {{name: keda-metrics-apiserver, namespace: {NAMESPACE}}}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{{name: https, port: {adapter_port}, targetPort: {adapter_port}}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {{name: v1beta1.external.metrics.k8s.io}}
spec:
  group: external.metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service: {{name: keda-metrics-apiserver, namespace: {NAMESPACE}, port: {adapter_port}}}
"""
