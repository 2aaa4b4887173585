"""The real Kubernetes control plane for tests, driven from Python.

`ControlPlane.start()` runs tests/k8s/up.sh (etcd, kube-apiserver,
kube-controller-manager with the HPA controller, kube-scheduler and kwok on
127.0.0.1), registers fake kwok nodes and hands out clients. Tests create
real Namespaces, Deployments, HPAs and ServiceAccounts through the official
client; nothing of the Kubernetes API is faked.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

HERE = Path(__file__).resolve().parent
K8S_DIR = HERE.parent / "k8s"
T = TypeVar("T")
METRICS_PATH_ANNOTATION = "metrics.k8s.io/resource-metrics-path"


def kubeconfig_through(port: int, kubeconfig: Path, directory: Path) -> Path:
    """A copy of `kubeconfig` whose server is 127.0.0.1:`port`: a TCP fault proxy
    in front of the API server (TLS passes through it untouched)."""
    document = yaml.safe_load(kubeconfig.read_text())
    document["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = directory / "through-proxy.kubeconfig"
    path.write_text(yaml.safe_dump(document))
    return path


def api_client(kubeconfig: Path) -> client.ApiClient:
    """A Kubernetes client with the credentials and server of `kubeconfig`."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


def wait_for(
    what: str, check: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.25
) -> T:
    """Poll `check` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


@dataclass
class ControlPlane:
    """A running control plane: its work dir, kubeconfig and API clients."""

    workdir: Path
    kubeconfig: Path
    server: str
    ca_file: Path
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # --- lifecycle ---

    @classmethod
    def start(cls, workdir: Path | None = None, nodes: int = 1) -> ControlPlane:
        """Bring one up (binaries must be built: tests/k8s/build.sh)."""
        args = [str(K8S_DIR / "up.sh")]
        if workdir is not None:
            args.append(str(workdir))
        done = subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"tests/k8s/up.sh failed:\n{done.stdout}\n{done.stderr}")
        work = Path(done.stdout.strip().splitlines()[-1])
        env = dict(line.split("=", 1) for line in (work / "env").read_text().splitlines() if line)
        plane = cls(
            work, Path(env["KUBECONFIG"]), env["QSCALER_K8S_SERVER"], Path(env["QSCALER_K8S_CA"])
        )
        plane.add_nodes(nodes)
        return plane

    def stop(self) -> None:
        """Stop exactly the processes up.sh (or restart) started."""
        subprocess.run([str(K8S_DIR / "down.sh"), str(self.workdir)], check=False, timeout=120)
        for child in self.children:
            child.wait(timeout=30)

    def restart(self, component: str, down_seconds: float = 0.0) -> None:
        """Stop one component (by its saved PID) and start it again with the same
        command line, as a crash-and-restart or a rolling upgrade would."""
        argv = self.stop_component(component)
        time.sleep(down_seconds)
        self.start_component(component, argv)

    def stop_component(self, component: str) -> list[str]:
        """Stop one component by its saved PID; returns its command line."""
        pid = int((self.workdir / "pids" / component).read_text())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        os.kill(pid, signal.SIGTERM)
        try:
            wait_for(f"{component} to exit", lambda: not alive(pid), timeout=5)
        except AssertionError:  # the apiserver's graceful shutdown can take minutes
            os.kill(pid, signal.SIGKILL)
            wait_for(f"{component} to die", lambda: not alive(pid), timeout=10)
        return [a.decode() for a in argv]

    def start_component(self, component: str, argv: list[str]) -> None:
        """Start a component stopped by stop_component() again."""
        pid_file = self.workdir / "pids" / component
        with (self.workdir / "logs" / f"{component}.log").open("ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.children.append(process)  # down.sh stops it by PID; stop() reaps it
        pid_file.write_text(str(process.pid))
        if component == "kube-apiserver":
            wait_for("the API server to be ready again", self._ready, timeout=60)

    def _ready(self) -> bool:
        try:
            self.core().list_namespace(limit=1, _request_timeout=2)
        except Exception:  # anything at all: not ready yet
            return False
        return True

    def pids(self) -> dict[str, int]:
        """The PIDs up.sh saved, by component."""
        pid_dir = self.workdir / "pids"
        return {p.name: int(p.read_text()) for p in pid_dir.iterdir()} if pid_dir.exists() else {}

    def logs(self) -> str:
        """The tail of every component's log, for failure reports."""
        out = []
        for log in sorted((self.workdir / "logs").glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-40:]
            out.append(f"==> {log.name} <==\n" + "\n".join(lines))
        return "\n".join(out)

    # --- clients ---

    def api(self) -> client.ApiClient:
        """A cluster-admin client (client certificate in system:masters)."""
        return api_client(self.kubeconfig)

    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api())

    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api())

    def autoscaling(self) -> client.AutoscalingV2Api:
        return client.AutoscalingV2Api(self.api())

    def kubectl(self, *args: str, stdin: str | None = None, kubeconfig: Path | None = None) -> str:
        """Run the kubectl built with the control plane; raise with its output on failure."""
        binary = bin_dir() / "kubectl"
        done = subprocess.run(
            [str(binary), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr}{done.stdout}")
        return done.stdout

    # --- objects ---

    def add_nodes(self, count: int) -> None:
        """Register fake kwok nodes and wait until kwok reports them Ready."""
        template = yaml.safe_load((K8S_DIR / "fake-node.yaml").read_text())
        core = self.core()
        for i in range(count):
            node = json.loads(json.dumps(template))
            name = f"kwok-node-{i}"
            node["metadata"]["name"] = name
            node["metadata"]["labels"]["kubernetes.io/hostname"] = name
            # metrics-server (0.7+) scrapes this path on kwok's server.
            node["metadata"]["annotations"][METRICS_PATH_ANNOTATION] = (
                f"/metrics/nodes/{name}/metrics/resource"
            )
            with contextlib.suppress(ApiException):
                core.create_node(node)
            wait_for(f"node {name} Ready", functools.partial(_node_ready, core, name), timeout=60)

    def namespace(self, prefix: str = "t") -> str:
        """A fresh namespace whose default ServiceAccount exists (pods need it)."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        core = self.core()
        core.create_namespace({"metadata": {"name": name}})
        wait_for(f"default ServiceAccount in {name}", lambda: _has_sa(core, name, "default"))
        return name

    def deployment(
        self,
        namespace: str,
        name: str,
        replicas: int,
        annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        """A Deployment of one fake container; kwok makes its pods Ready."""
        self.apps().create_namespaced_deployment(
            namespace,
            {
                "metadata": {
                    "name": name,
                    "annotations": annotations or {},
                    "labels": labels or {},
                },
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {
                            "containers": [{"name": "consumer", "image": "fake.invalid/consumer"}]
                        },
                    },
                },
            },
        )

    def hpa(
        self, namespace: str, name: str, target: str, min_replicas: int, max_replicas: int
    ) -> None:
        """An autoscaling/v2 CPU HPA targeting Deployment `target`."""
        self.autoscaling().create_namespaced_horizontal_pod_autoscaler(
            namespace,
            {
                "metadata": {"name": name},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": target,
                    },
                    "minReplicas": min_replicas,
                    "maxReplicas": max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 60},
                            },
                        }
                    ],
                },
            },
        )

    def read_deployment(self, namespace: str, name: str) -> dict[str, Any]:
        response = self.apps().read_namespaced_deployment(name, namespace, _preload_content=False)
        body: dict[str, Any] = json.loads(response.data)
        return body

    def replicas(self, namespace: str, name: str) -> int:
        """spec.replicas of a Deployment (1 when unset, as the API defaults it)."""
        return int(self.read_deployment(namespace, name)["spec"].get("replicas", 1))

    def events_by_reason(self, namespace: str, name: str) -> dict[str, list[dict[str, Any]]]:
        """The object's Events, grouped by reason."""
        found: dict[str, list[dict[str, Any]]] = {}
        for event in self.events(namespace, name):
            found.setdefault(event["reason"], []).append(event)
        return found

    def await_events(
        self, namespace: str, name: str, reason: str, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """`name`'s Events of `reason`, once there is at least one.

        An Event is written after the change it reports, so a test that has
        just seen the change waits for its Event rather than reading at once.
        """
        found: list[dict[str, Any]] = wait_for(
            f"a {reason} Event on {name}",
            lambda: self.events_by_reason(namespace, name).get(reason),
            timeout=timeout,
        )
        return found

    def read_hpa(self, namespace: str, name: str) -> dict[str, Any]:
        response = self.autoscaling().read_namespaced_horizontal_pod_autoscaler(
            name, namespace, _preload_content=False
        )
        body: dict[str, Any] = json.loads(response.data)
        return body

    def ready_pods(self, namespace: str, app: str) -> int:
        pods = self.core().list_namespaced_pod(namespace, label_selector=f"app={app}")
        return sum(
            1
            for p in pods.items
            if p.metadata.deletion_timestamp is None
            and any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))
        )

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        response = self.core().list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}", _preload_content=False
        )
        items: list[dict[str, Any]] = json.loads(response.data)["items"]
        return items

    def service_account_token(self, namespace: str, name: str) -> str:
        """A TokenRequest token of the ServiceAccount, valid for an hour."""
        request = {"spec": {"expirationSeconds": 3600}}
        token: str = (
            self.core()
            .create_namespaced_service_account_token(name, namespace, request)
            .status.token
        )
        return token

    def service_account_kubeconfig(self, namespace: str, name: str, directory: Path) -> Path:
        """A kubeconfig that authenticates as the ServiceAccount (a TokenRequest token)."""
        token = self.service_account_token(namespace, name)
        path = directory / f"{namespace}-{name}.kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "test",
                            "cluster": {
                                "server": self.server,
                                "certificate-authority": str(self.ca_file),
                            },
                        }
                    ],
                    "users": [{"name": name, "user": {"token": token}}],
                    "contexts": [{"name": "test", "context": {"cluster": "test", "user": name}}],
                    "current-context": "test",
                }
            )
        )
        return path


def bin_dir() -> Path:
    """Where tests/k8s/build.sh caches the binaries (versions.sh decides)."""
    out = subprocess.run(
        ["bash", "-c", f"source {K8S_DIR / 'versions.sh'} && qscaler_k8s_bin_dir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return Path(out)


def alive(pid: int) -> bool:
    """Running (not a zombie): this machine's init reaps slowly."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _node_ready(core: client.CoreV1Api, name: str) -> bool:
    try:
        node = core.read_node(name)
    except ApiException:
        return False
    conditions = node.status.conditions or []
    taints = node.spec.taints or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return ready and not any(t.key == "node.kubernetes.io/not-ready" for t in taints)


def _has_sa(core: client.CoreV1Api, namespace: str, name: str) -> bool:
    try:
        core.read_namespaced_service_account(name, namespace)
    except ApiException:
        return False
    return True


class ReplicaHistory:
    """Every spec.replicas the Deployment had, recorded from a real watch.

    Survives apiserver restarts (it watches again from the last version seen).
    """

    def __init__(self, plane: ControlPlane, namespace: str, name: str) -> None:
        self.values: list[int] = []
        self.namespace, self.name = namespace, name
        self._apps = plane.apps()
        self._version: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except Exception:  # the apiserver may be restarting: watch again
                self._stop.wait(0.5)

    def _follow(self) -> None:
        kwargs: dict[str, Any] = {
            "field_selector": f"metadata.name={self.name}",
            "timeout_seconds": 2,
        }
        if self._version:
            kwargs["resource_version"] = self._version
        stream = self._apps.list_namespaced_deployment(
            self.namespace, watch=True, _preload_content=False, _request_timeout=(3, 10), **kwargs
        )
        for line in iter_resp_lines(stream):
            if not line.strip():
                continue
            event = json.loads(line)
            if event.get("type") == "ERROR":
                self._version = None
                return
            obj = event["object"]
            self._version = obj["metadata"]["resourceVersion"]
            value = obj["spec"].get("replicas", 1)
            if not self.values or self.values[-1] != value:
                self.values.append(value)

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(timeout=15)
        return self.values
