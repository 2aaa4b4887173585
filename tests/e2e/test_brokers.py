"""Two live broker nodes of different versions behind one qscaler: each workload
reads its own broker, and a broker that goes down holds only its own workloads.

The default broker is the session's 3.10.8 node, the second the session's
4.0.5 node (tests/harness/rabbitmq_fixtures.py), stopped and started again by
the test as its fault."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import ENABLED, StartQscaler, consumer_annotations
from tests.harness.k8s import ControlPlane, wait_for
from tests.harness.rabbitmq import Broker
from tests.harness.rabbitmq_fixtures import RabbitNodes

pytestmark = [
    pytest.mark.k8s,
    pytest.mark.rabbitmq,
    pytest.mark.slow,
    pytest.mark.rabbitmq_versions("3.10.8"),  # the default broker; the second is 4.0.5
]
SECOND_VERSION = "4.0.5"


@pytest.fixture
def second_broker(rabbitmq_nodes: RabbitNodes, vhost: str) -> Iterator[Broker]:
    """The session's 4.0.5 node, with the test's vhost on it too (deleted after)."""
    node = rabbitmq_nodes.get(SECOND_VERSION)
    node.create_vhost(vhost)
    yield node
    node.delete_vhost(vhost)


def brokers_file(tmp_path: Path, second: Broker) -> Path:
    """The brokers file naming the second node; its credentials in files, as mounted."""
    (tmp_path / "username").write_text(second.user)
    (tmp_path / "password").write_text(second.password)
    path = tmp_path / "brokers.yaml"
    entry = {
        "name": "second",
        "managementUrl": second.mgmt_url,
        "amqpUrl": second.amqp_url,
        "usernameFile": str(tmp_path / "username"),
        "passwordFile": str(tmp_path / "password"),
    }
    path.write_text(yaml.safe_dump({"brokers": [entry]}))
    return path


def test_two_brokers_scale_their_own_workloads_and_a_fault_stays_on_its_broker(
    control_plane: ControlPlane,
    broker: Broker,
    second_broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
    tmp_path: Path,
) -> None:
    # The same vhost and queue name on both nodes: two different queues.
    assert (broker.version, second_broker.version) == ("3.10.8", SECOND_VERSION)
    broker.declare_queues(vhost, "work")
    second_broker.declare_queues(vhost, "work", durable=True)  # outlives the fault below
    limits = {"min_replicas": "1", "max_replicas": "9"}
    control_plane.deployment(
        namespace, "on-default", 1, consumer_annotations(vhost, "work", **limits), ENABLED
    )
    on_second = consumer_annotations(vhost, "work", broker="second", **limits)
    control_plane.deployment(namespace, "on-second", 1, on_second, ENABLED)
    qscaler = start_qscaler(brokers_file=str(brokers_file(tmp_path, second_broker)))

    broker.publish(vhost, "work", 30)
    second_broker.publish(vhost, "work", 50, persistent=True)
    wait_for("3 and 5 replicas", lambda: (control_plane.replicas(namespace, "on-default"),
             control_plane.replicas(namespace, "on-second")) == (3, 5), timeout=90)  # fmt: skip

    second_broker.stop(keep_data=True)  # the second broker goes down
    try:
        broker.publish(vhost, "work", 30)
        wait_for(
            "the default broker's workload keeps scaling: 6 replicas",
            lambda: control_plane.replicas(namespace, "on-default") == 6,
            timeout=90,
        )
        wait_for(
            "an error counted against the second broker",
            lambda: qscaler.metric_sum("qscaler_source_errors_total", broker="second") > 0,
            timeout=60,
        )
        wait_for(  # the Event is written after the read failed, later in the cycle
            "a SourceError Event naming broker second",
            lambda: [
                e
                for e in control_plane.events_by_reason(namespace, "on-second").get(
                    "SourceError", []
                )
                if "broker second" in e["message"]
            ],
            timeout=30,
        )
        assert control_plane.replicas(namespace, "on-second") == 5  # held, never scaled down
        assert not control_plane.events_by_reason(namespace, "on-default").get("SourceError")
    finally:
        second_broker.start()  # same node, same data and ports

    second_broker.publish(vhost, "work", 20, persistent=True)
    wait_for(
        "the second broker's workload scales again: 7 replicas",
        lambda: control_plane.replicas(namespace, "on-second") == 7,
        timeout=120,
    )
