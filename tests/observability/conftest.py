"""A real qscaler process exporting every series family it can without a cluster.

`qscaler run --bindings FILE` runs the real loop (dry run, no cluster) against
the session's real RabbitMQ node. The bindings are chosen so that every
broker-side family has samples after a few cycles: a backlog pinned at
max-replicas, an idle queue at its minimum (so `applied` is exported), a
consumer holding messages unacknowledged, a `re:` binding over two queues,
a binding whose annotations are invalid, and one whose vhost does not exist
(a source error). Publish and ack rates are real: messages are published and
some are acknowledged before qscaler starts.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.harness.qscaler_process import QscalerProcess
from tests.harness.rabbitmq import Broker, Holder, poll_until

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "qscaler-dashboard.json"
RULES = REPO / "deploy" / "prometheus" / "qscaler-rules.yaml"


def binding(name: str, vhost: str, replicas: int = 1, **annotations: str) -> dict[str, object]:
    """One entry of a bindings file's short form."""
    return {
        "name": name,
        "namespace": "shop",
        "replicas": replicas,
        "annotations": {
            "qscaler.io/vhost": vhost,
            "qscaler.io/messages-per-replica": "10",
            **{f"qscaler.io/{k.replace('_', '-')}": v for k, v in annotations.items()},
        },
    }


def ack_some(broker: Broker, vhost: str, queue: str, count: int) -> None:
    """Get and ack `count` messages, keeping the channel open until the
    management API shows the acks: a channel's statistics are emitted on a
    timer, and a channel closed before its next emission may never report
    them (then no ack rate would ever appear)."""
    with broker.channel(vhost) as channel:
        for _ in range(count):
            method, _properties, _body = channel.basic_get(queue, auto_ack=False)
            assert method is not None, f"{queue} has fewer than {count} messages"
            channel.basic_ack(method.delivery_tag)
        poll_until(
            f"the management API to count the acks on {queue}",
            lambda: (broker.queue(vhost, queue, "message_stats") or {}).get("message_stats", {}),
            lambda stats: stats.get("ack", 0) >= count and "publish_details" in stats,
            timeout=60,
        )


def start_bindings_run(
    broker: Broker, directory: Path, workloads: list[dict[str, object]], **settings: str
) -> QscalerProcess:
    """Write the bindings file and start qscaler on it against `broker`."""
    path = directory / "bindings.yaml"
    path.write_text(yaml.safe_dump({"workloads": workloads}))
    env = {
        "QSCALER_MANAGEMENT_URL": broker.mgmt_url,
        "QSCALER_USERNAME": broker.user,
        "QSCALER_PASSWORD": broker.password,
        "QSCALER_POLL_INTERVAL_SECONDS": "1",
        "QSCALER_RATE_SMOOTHING_SECONDS": "0",
        **{f"QSCALER_{k.upper()}": v for k, v in settings.items()},
    }
    return QscalerProcess(directory, "observability", env, path).start()


@dataclass
class BrokerRun:
    """The running process and the names it was given."""

    qscaler: QscalerProcess
    vhost: str
    missing_vhost: str


@pytest.fixture(scope="module")
def broker_run(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerRun]:
    """qscaler on the bindings described in the module docstring, after the
    scrape shows the backlog, the rates and the failed vhost."""
    vhost = f"qscaler-obs-{secrets.token_hex(3)}"
    missing = f"qscaler-obs-missing-{secrets.token_hex(3)}"
    broker.create_vhost(vhost)
    holder: Holder | None = None
    qscaler: QscalerProcess | None = None
    try:
        broker.declare_queues(vhost, "orders", "idle", "busy", "jobs-1", "jobs-2")
        broker.publish(vhost, "orders", 55)
        ack_some(broker, vhost, "orders", 5)  # a real ack rate
        broker.publish(vhost, "busy", 8)
        broker.publish(vhost, "jobs-1", 7)
        broker.publish(vhost, "jobs-2", 3)
        holder = broker.hold(vhost, "busy", 8)
        poll_until(
            "the management API to count the setup",
            lambda: broker.queue(vhost, "busy", "messages_unacknowledged,consumers") or {},
            lambda q: q.get("messages_unacknowledged") == 8 and q.get("consumers") == 1,
        )
        workloads = [
            binding("orders", vhost, queues="orders", min_replicas="1", max_replicas="3"),
            binding("idle", vhost, queues="idle", min_replicas="1", max_replicas="5"),
            binding("busy", vhost, queues="busy", min_replicas="1", max_replicas="5"),
            binding("jobs", vhost, 0, queues="re:^jobs-", min_replicas="0", max_replicas="10"),
            binding("broken", vhost, queues="orders", max_replicas="lots"),
            binding("lost", missing, 2, queues="orders"),
        ]
        qscaler = start_bindings_run(broker, tmp_path_factory.mktemp("broker-run"), workloads)
        poll_until(
            "qscaler to see the backlog, the rates and the missing vhost",
            lambda: (
                qscaler.metric(
                    "qscaler_queue_messages",
                    namespace="shop", workload="orders", kind="Deployment", state="ready",
                ),
                qscaler.metric(
                    "qscaler_queue_ack_messages_per_second",
                    namespace="shop", workload="orders", kind="Deployment",
                ),
                qscaler.metric("qscaler_source_errors_total", broker="default", vhost=missing, kind="error"),
            ),
            lambda seen: seen[0] == 50 and seen[1] is not None and (seen[2] or 0) >= 1,
            timeout=90,
        )  # fmt: skip
        yield BrokerRun(qscaler, vhost, missing)
    finally:
        if qscaler is not None:
            qscaler.stop()
        if holder is not None:
            holder.close()
        broker.delete_vhost(vhost)
