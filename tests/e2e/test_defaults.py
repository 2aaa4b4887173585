"""The defaults a user gets, end to end: a workload annotated as KEDA's own RabbitMQ
e2e test sets up its ScaledObject (value 25, max 4, cooldown 10 s), nothing else."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ENABLED, StartQscaler
from tests.harness.k8s import ControlPlane, ReplicaHistory, wait_for
from tests.harness.rabbitmq import Broker

pytestmark = [
    pytest.mark.k8s,
    pytest.mark.rabbitmq,
    pytest.mark.slow,
    pytest.mark.rabbitmq_versions("4.0.5"),  # the defaults do not depend on the version
]


def test_a_purged_queue_releases_every_replica_after_one_cooldown(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    """With the default scale-down limit (none: the cooldown is the brake), 4 → 0 in
    one step once the queue has been empty for the cooldown, not 4 → 2 → 1 → 0 a
    minute apart."""
    broker.declare_queues(vhost, "work")
    annotations = {
        "qscaler.io/queues": "work",
        "qscaler.io/vhost": vhost,
        "qscaler.io/messages-per-replica": "25",
        "qscaler.io/min-replicas": "0",
        "qscaler.io/max-replicas": "4",
        "qscaler.io/cooldown": "10s",
    }
    control_plane.deployment(namespace, "worker", 0, annotations, ENABLED)
    history = ReplicaHistory(control_plane, namespace, "worker")
    start_qscaler()

    broker.publish(vhost, "work", 100)
    wait_for("4 replicas", lambda: control_plane.replicas(namespace, "worker") == 4, timeout=60)
    assert broker.purge(vhost, "work") == 100  # at once: no half-drained sample to act on
    wait_for("back to 0", lambda: control_plane.replicas(namespace, "worker") == 0, timeout=90)

    values = history.stop()
    after_max = values[values.index(4) :]
    assert after_max == [4, 0], f"spec.replicas went {values}"
