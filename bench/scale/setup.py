"""Build the world on the real broker and the real control plane.

Queues are created with the definitions import (`POST /api/definitions/{vhost}`,
one request per vhost): on this machine 5,000 queues take about 8 s that way,
against 11 s declared over AMQP on four channels. Messages go through one
channel in transactions of up to 500 publishes: `tx.commit` returns once the
batch is enqueued, one round trip per batch instead of one per message (a
blocking pika channel in confirm mode waits for every confirm).

Deployments are created through the API with a few threads; kwok makes the
pods of the busy ones Ready.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pika
from kubernetes.client.exceptions import ApiException

from bench.scale.world import Bound, World
from tests.harness.k8s import ControlPlane
from tests.harness.rabbitmq import Broker

#: RabbitMQ's production statistics interval (the tests use 1 s).
STATS_INTERVAL_MS = 5000
TX_BATCH = 500


def start_broker(version: str | None = None) -> Broker:
    """An isolated node with the production statistics interval (`version`: one of
    tests/rabbitmq/versions.sh's; None: the default)."""
    broker = Broker(
        settings={"QSCALER_RABBITMQ_STATS_INTERVAL_MS": str(STATS_INTERVAL_MS)}, version=version
    )
    broker.start()
    return broker


def create_queues(broker: Broker, world: World) -> None:
    """Every vhost and its durable classic queues, one definitions import per vhost."""
    for vhost in world.vhosts:
        broker.create_vhost(vhost)
        queues = [
            {"name": q, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {}}
            for q in world.queues[vhost]
        ]
        response = broker.api.post(
            f"/api/definitions/{quote(vhost, safe='')}", json={"queues": queues}, timeout=600
        )
        response.raise_for_status()


def prime(broker: Broker, world: World) -> None:
    """Give every queue a history: one message published, then purged.

    A queue that has seen traffic carries `message_stats` in the management
    API's answers (a never-used one does not), which is what a running fleet
    looks like and what qscaler parses every poll.
    """
    for vhost in world.vhosts:
        names = world.queues[vhost]
        publish(broker, vhost, dict.fromkeys(names, 1))
        connection = broker.connect(vhost)
        try:
            channel = connection.channel()
            for name in names:
                channel.queue_purge(name)
        finally:
            connection.close()


def publish(broker: Broker, vhost: str, counts: Mapping[str, int]) -> None:
    """Publish `counts[queue]` small messages to each queue, in transactions."""
    connection = broker.connect(vhost)
    try:
        channel = connection.channel()
        channel.tx_select()
        pending = 0
        for queue, count in counts.items():
            for i in range(count):
                channel.basic_publish("", queue, str(i).encode(), pika.BasicProperties())
                pending += 1
                if pending == TX_BATCH:
                    channel.tx_commit()
                    pending = 0
        channel.tx_commit()
    finally:
        connection.close()


def wait_counted(
    broker: Broker, world: World, ready: Mapping[str, Mapping[str, int]], timeout: float = 300
) -> None:
    """Until the management API counts every queue, with at least `ready` in the given ones.

    One unpaged request per vhost with two columns: the cheapest way to ask.
    """
    deadline = time.monotonic() + timeout
    for vhost in world.vhosts:
        expected, want = len(world.queues[vhost]), ready.get(vhost, {})
        while True:
            counted = _ready_counts(broker, vhost)
            if len(counted) == expected and all(counted.get(q, -1) >= n for q, n in want.items()):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"vhost {vhost}: {len(counted)} of {expected} queues counted")
            time.sleep(1)


def _ready_counts(broker: Broker, vhost: str) -> dict[str, int]:
    response = broker.api.get(
        f"/api/queues/{quote(vhost, safe='')}",
        params={"columns": "name,messages_ready", "sort": ""},
        timeout=120,
    )
    response.raise_for_status()
    return {
        q["name"]: q["messages_ready"]
        for q in response.json()
        if isinstance(q.get("messages_ready"), int)
    }


def create_deployments(plane: ControlPlane, world: World, threads: int = 4) -> None:
    """A namespace per vhost and a labelled Deployment per workload."""
    core = plane.core()
    for namespace in sorted({w.namespace for w in world.workloads}):
        core.create_namespace({"metadata": {"name": namespace}})
    apps = plane.apps()

    def create(workload: Bound) -> None:
        body = _deployment(workload, world.replicas(workload))
        _retry(lambda: apps.create_namespaced_deployment(workload.namespace, body))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, world.workloads))


def _deployment(workload: Bound, replicas: int) -> dict[str, object]:
    labels = {"app": workload.name}
    return {
        "metadata": {
            "name": workload.name,
            "labels": {"qscaler.io/enabled": "true"},
            "annotations": workload.annotations(),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "consumer", "image": "fake.invalid/consumer"}]},
            },
        },
    }


def _retry(call: Callable[[], object], attempts: int = 5) -> None:
    for attempt in range(attempts):
        try:
            call()
            return
        except ApiException as exc:
            if exc.status == 409 or attempt == attempts - 1:
                raise
            time.sleep(1 + attempt)
