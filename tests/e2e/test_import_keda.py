"""`qscaler import keda` end to end: a ScaledObject in, the kustomize patch applied
with kubectl to a real control plane, the workload scaled by qscaler."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import StartQscaler
from tests.harness.k8s import ControlPlane, wait_for
from tests.harness.rabbitmq import Broker

pytestmark = [
    pytest.mark.k8s,
    pytest.mark.rabbitmq,
    pytest.mark.slow,
    pytest.mark.rabbitmq_versions("3.10.8"),  # the import does not depend on the broker
]


def scaled_object(namespace: str, vhost: str) -> str:
    """What a team running KEDA would have for this consumer."""
    documents = [
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": "orders", "namespace": namespace},
            "spec": {
                "scaleTargetRef": {"name": "orders-consumer"},
                "minReplicaCount": 0,
                "maxReplicaCount": 6,
                "cooldownPeriod": 30,
                "triggers": [
                    {
                        "type": "rabbitmq",
                        "metadata": {
                            "mode": "QueueLength",
                            "value": "10",
                            "queueName": "orders",
                            "vhostName": vhost,
                        },
                        "authenticationRef": {"name": "rabbit"},
                    },
                    {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}},
                ],
            },
        },
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "TriggerAuthentication",
            "metadata": {"name": "rabbit", "namespace": namespace},
            "spec": {"secretTargetRef": [{"parameter": "host", "name": "rabbit", "key": "url"}]},
        },
    ]
    return yaml.safe_dump_all(documents)


def deployment(namespace: str) -> dict[str, object]:
    """The consumer as its repository holds it: no spec.replicas, as qscaler advises."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "orders-consumer", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "orders-consumer"}},
            "template": {
                "metadata": {"labels": {"app": "orders-consumer"}},
                "spec": {"containers": [{"name": "consumer", "image": "fake.invalid/consumer"}]},
            },
        },
    }


def test_imported_patch_applied_with_kustomize_scales_under_qscaler(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
    tmp_path: Path,
) -> None:
    (tmp_path / "keda.yaml").write_text(scaled_object(namespace, vhost))
    imported = subprocess.run(
        [sys.executable, "-m", "qscaler", "import", "keda", str(tmp_path / "keda.yaml"),
         "--output", "kustomize"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    app = tmp_path / "app"
    app.mkdir()
    (app / "deployment.yaml").write_text(yaml.safe_dump(deployment(namespace)))
    (app / "qscaler.yaml").write_text(imported.stdout)
    (app / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": ["deployment.yaml"], "patches": [{"path": "qscaler.yaml"}]})
    )
    control_plane.kubectl("apply", "-k", str(app))
    applied = control_plane.read_deployment(namespace, "orders-consumer")["metadata"]
    assert applied["labels"]["qscaler.io/enabled"] == "true"
    assert applied["annotations"]["qscaler.io/messages-per-replica"] == "10"

    broker.declare_queues(vhost, "orders")
    broker.publish(vhost, "orders", 45)
    start_qscaler()
    wait_for(
        "5 replicas for 45 messages at 10 per replica",
        lambda: control_plane.replicas(namespace, "orders-consumer") == 5,
        timeout=90,
    )
    control_plane.await_events(namespace, "orders-consumer", "ScaleUp", timeout=30)
