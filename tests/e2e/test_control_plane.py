"""The test bed itself: a real control plane whose HPA controller acts and whose RBAC bites."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.harness.cpu import USAGE_ANNOTATION, cpu_deployment
from tests.harness.k8s import ControlPlane, alive, wait_for

pytestmark = pytest.mark.k8s


def test_hpa_controller_raises_a_deployment_to_its_min_replicas(
    control_plane: ControlPlane, namespace: str
) -> None:
    """Below minReplicas the HPA scales up before reading metrics (these pods
    request no CPU, so it could not compute a utilization anyway)."""
    control_plane.deployment(namespace, "worker", replicas=1)
    wait_for("1 ready pod", lambda: control_plane.ready_pods(namespace, "worker") == 1)
    control_plane.hpa(namespace, "worker", "worker", min_replicas=3, max_replicas=8)
    wait_for(
        "the HPA controller to set 3 replicas",
        lambda: control_plane.read_deployment(namespace, "worker")["spec"]["replicas"] == 3,
    )
    wait_for("3 kwok pods Ready", lambda: control_plane.ready_pods(namespace, "worker") == 3)


def test_rbac_refuses_a_service_account_without_rights(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    control_plane.core().create_namespaced_service_account(
        namespace, {"metadata": {"name": "nobody"}}
    )
    kubeconfig = control_plane.service_account_kubeconfig(namespace, "nobody", tmp_path)
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    core = client.CoreV1Api(client.ApiClient(configuration))
    with pytest.raises(ApiException) as refused:
        core.list_namespaced_secret(namespace)
    assert refused.value.status == 403


def test_a_second_control_plane_starts_from_the_cache_and_stops_cleanly(tmp_path: Path) -> None:
    """Reuses the cached binaries (up.sh waits at most 60 s per component) and
    leaves no process behind."""
    if os.environ.get("QSCALER_SKIP_K8S") == "1":
        pytest.skip("QSCALER_SKIP_K8S=1")
    plane = ControlPlane.start(workdir=tmp_path / "cp", nodes=1)
    pids = plane.pids()
    try:
        assert set(pids) == {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
            "metrics-server",
        }
        assert plane.core().list_namespace().items
    finally:
        plane.stop()
    for name, pid in pids.items():
        assert not alive(pid), f"{name} (pid {pid}) still running"


def test_kubectl_top_shows_the_cpu_a_pod_annotation_sets(
    control_plane: ControlPlane, namespace: str
) -> None:
    """The metrics pipeline end to end: kwok reports the annotated usage as the
    kubelet would, metrics-server scrapes it, the aggregation layer serves it."""
    cpu_deployment(control_plane, namespace, "busy", 1, {}, {})
    wait_for("1 ready pod", lambda: control_plane.ready_pods(namespace, "busy") == 1)
    pod = control_plane.core().list_namespaced_pod(namespace, label_selector="app=busy").items[0]
    control_plane.core().patch_namespaced_pod(
        pod.metadata.name,
        namespace,
        {"metadata": {"annotations": {USAGE_ANNOTATION: "250m"}}},
        _content_type="application/merge-patch+json",
    )

    def top() -> int | None:
        try:
            out = control_plane.kubectl("top", "pods", "-n", namespace, "--no-headers")
        except RuntimeError:  # metrics not available yet
            return None
        name, cpu, _memory = out.split()
        assert name == pod.metadata.name
        return int(cpu.removesuffix("m"))

    # A rate over metrics-server's 10-s window of kwok's cumulative counter:
    # 250m give or take rounding (251m is typical).
    wait_for("kubectl top pods to show about 250m", lambda: 240 <= (top() or 0) <= 260, 120, 2)
