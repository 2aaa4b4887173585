"""`helm install` of charts/qscaler into the real test API server, and qscaler
scaling a Deployment with exactly the permissions the chart grants.

The release watches one namespace (`watchNamespaces`), so the chart's Roles,
not a ClusterRole, are what qscaler runs under: its ServiceAccount's token is
all the qscaler process gets. The chart's own pods run on kwok's fake nodes
(they never start a container); the qscaler that acts is a process on this
machine, as in tests/e2e.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chart.helm import CHART, Helm
from tests.harness.k8s import ControlPlane, wait_for
from tests.harness.qscaler_process import QscalerProcess
from tests.harness.rabbitmq import Broker

# The chart's RBAC, not the broker, is under test: one broker version is enough.
pytestmark = [
    pytest.mark.k8s,
    pytest.mark.rabbitmq,
    pytest.mark.slow,
    pytest.mark.rabbitmq_versions("3.10.8"),
]

RELEASE = "qscaler-chart"  # also its namespace, and (containing "qscaler") its objects' name


@pytest.fixture
def release(
    helm: Helm, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> Iterator[dict[str, object]]:
    """The chart installed with its RBAC limited to the test's namespace."""
    kube = ["--kubeconfig", str(control_plane.kubeconfig), "--namespace", RELEASE]
    installed = helm.run(
        "install", RELEASE, str(CHART), *kube, "--create-namespace",
        "--set", f"watchNamespaces={{{namespace}}}",
    )  # fmt: skip
    # The notes tell the user what the chart cannot do for them.
    assert f"-n {RELEASE} create secret generic qscaler-rabbitmq" in installed.stdout
    assert f"labelled workloads in: {namespace}." in installed.stdout
    status = json.loads(helm.run("status", RELEASE, *kube, "--output", "json").stdout)
    yield status
    helm.run("uninstall", RELEASE, *kube, "--wait", check=False)


def test_qscaler_scales_under_the_charts_rbac(
    release: dict[str, object],
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    tmp_path: Path,
) -> None:
    assert release["info"]["status"] == "deployed"  # type: ignore[index]
    roles = control_plane.kubectl("get", "roles", "-n", namespace, "-o", "name")
    assert f"role.rbac.authorization.k8s.io/{RELEASE}" in roles.split()
    broker.declare_queues(vhost, "work")
    annotations = {
        "qscaler.io/queues": "work",
        "qscaler.io/vhost": vhost,
        "qscaler.io/messages-per-replica": "10",
        "qscaler.io/max-replicas": "6",
    }
    control_plane.deployment(namespace, "worker", 1, annotations, {"qscaler.io/enabled": "true"})
    kubeconfig = control_plane.service_account_kubeconfig(RELEASE, RELEASE, tmp_path)
    qscaler = QscalerProcess(
        tmp_path,
        "chart",
        {
            "QSCALER_KUBECONFIG": str(kubeconfig),
            "QSCALER_MANAGEMENT_URL": broker.mgmt_url,
            "QSCALER_USERNAME": broker.user,
            "QSCALER_PASSWORD": broker.password,
            "QSCALER_POLL_INTERVAL_SECONDS": "1",
            "QSCALER_NAMESPACES": namespace,
            "QSCALER_LEASE_NAME": f"{RELEASE}-leader",
            "QSCALER_LEASE_NAMESPACE": RELEASE,
        },
    ).start()
    try:
        broker.publish(vhost, "work", 50)
        wait_for(
            "worker scaled to 5 under the chart's Role",
            lambda: control_plane.replicas(namespace, "worker") == 5,
            timeout=90,
        )
        control_plane.await_events(namespace, "worker", "ScaleUp")
    finally:
        code = qscaler.stop()
    assert code == 0, qscaler.logs()  # SIGTERM: a clean stop that releases the Lease
