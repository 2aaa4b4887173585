"""The Prometheus source against the real broker, with management statistics
on (the session's node) and off (a second node with
`management_agent.disable_metrics_collector = true`).

What a user would notice if this broke: `qscaler plan` and `qscaler run`
reading wrong depths or no rates through rabbitmq_prometheus, or the source
only working while the statistics database it is meant to replace is on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qscaler.sources import VhostRequest
from qscaler.sources.management import ManagementSource
from qscaler.sources.prometheus import PrometheusConfig, PrometheusSource
from tests.harness.qscaler_process import QscalerProcess
from tests.harness.rabbitmq import Broker, poll_until

pytestmark = pytest.mark.rabbitmq

STATS_OFF = "management_agent.disable_metrics_collector = true\n"


class StatsOffNodes:
    """A node per version whose management plugin collects no statistics (how
    many operators run 4.x, and the official image without `-management`)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._nodes: dict[str, Broker] = {}

    def get(self, version: str) -> Broker:
        if version not in self._nodes:
            workdir = self._tmp.mktemp(f"rabbitmq-{version}-stats-off")
            (workdir / "conf.d").mkdir()
            (workdir / "conf.d" / "90-stats-off.conf").write_text(STATS_OFF)
            node = Broker(workdir, version=version)
            node.start()
            self._nodes[version] = node
        return self._nodes[version]

    def stop_all(self) -> None:
        for node in self._nodes.values():
            node.stop()


@pytest.fixture(scope="module")
def stats_off_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StatsOffNodes]:
    nodes = StatsOffNodes(tmp_path_factory)
    yield nodes
    nodes.stop_all()


@pytest.fixture(params=["stats-on", "stats-off"])
def node(request: pytest.FixtureRequest, broker: Broker, stats_off_nodes: StatsOffNodes) -> Broker:
    """The version's session node, or a node of the same version with statistics off."""
    return broker if request.param == "stats-on" else stats_off_nodes.get(broker.version)


@pytest.fixture
def vhost_on(node: Broker, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"prom-{request.node.name[-20:].strip('[]-')}-{os.getpid()}"
    node.create_vhost(name)
    yield name
    node.delete_vhost(name)


def prometheus(node: Broker) -> PrometheusSource:
    return PrometheusSource.connect(PrometheusConfig(urls=(node.prometheus_url,)))


def channel(node: Broker, vhost: str) -> Any:
    """A channel on a connection that stays open: per-channel counters (3.10)
    live as long as their channel."""
    return node.connect(vhost).channel()


def test_depths_and_consumers_match_what_was_done(node: Broker, vhost_on: str) -> None:
    node.declare_queues(vhost_on, "orders", "idle")
    node.publish(vhost_on, "orders", 25)
    holder = node.hold(vhost_on, "orders", 4)
    try:
        source = prometheus(node)
        request = VhostRequest(vhost_on, frozenset({"orders", "idle", "nope"}))
        snapshot = poll_until(
            "the node to report orders with 4 unacknowledged",
            lambda: source.read(request),
            lambda s: "orders" in s.queues and s.queues["orders"].messages_unacknowledged == 4,
        )
        orders = snapshot.queues["orders"]
        assert (orders.messages_ready, orders.consumers) == (21, 1)
        assert snapshot.queues["idle"].messages_ready == 0
        assert snapshot.missing == {"nope"}
        source.close()
    finally:
        holder.close()


def test_rates_are_the_exact_counter_increments(node: Broker, vhost_on: str) -> None:
    """Published and acked counts between reads add up to what was done."""
    node.declare_queues(vhost_on, "work")
    ch = channel(node, vhost_on)
    source = prometheus(node)
    request = VhostRequest(vhost_on, frozenset({"work"}))
    poll_until("the queue to be counted", lambda: "work" in source.read(request).queues)
    totals = {"published": 0.0, "finished": 0.0}
    last = source.read(request)
    for _ in range(60):
        ch.basic_publish("", "work", b"x")
    for _ in range(25):
        method, _props, _body = ch.basic_get("work")
        ch.basic_ack(method.delivery_tag)

    def accumulate() -> dict[str, float]:
        nonlocal last
        snapshot = source.read(request)
        stats, elapsed = snapshot.queues["work"], snapshot.read_at - last.read_at
        totals["published"] += (stats.publish_rate or 0.0) * elapsed
        totals["finished"] += (stats.ack_rate or 0.0) * elapsed
        last = snapshot
        return {k: round(v, 6) for k, v in totals.items()}

    poll_until(
        "60 published and 25 acked between the reads",
        accumulate,
        lambda t: t == {"published": 60.0, "finished": 25.0},
    )
    ch.connection.close()
    source.close()


def test_management_statistics_off_leaves_only_this_source_with_rates(
    broker: Broker, stats_off_nodes: StatsOffNodes
) -> None:
    node = stats_off_nodes.get(broker.version)
    node.declare_queues("/", "stats-off-q")
    node.publish("/", "stats-off-q", 7)
    source = prometheus(node)
    request = VhostRequest("/", frozenset({"stats-off-q"}))
    snapshot = poll_until(
        "7 ready",
        lambda: source.read(request),
        lambda s: "stats-off-q" in s.queues and s.queues["stats-off-q"].messages_ready == 7,
    )
    assert snapshot.queues["stats-off-q"].messages_ready == 7
    # The management source reads the depth from its statistics-free listing
    # (qscaler/sources/statistics_off.py), without consumers or rates.
    management = ManagementSource.connect(node.mgmt_url, node.user, node.password)
    read = management.read(request).queues["stats-off-q"]
    assert (read.messages_ready, read.publish_rate, read.ack_rate) == (7, None, None)
    management.close()
    source.close()


def write_bindings(path: Path, vhost: str) -> Path:
    path.write_text(
        "workloads:\n"
        "  - name: orders-consumer\n    namespace: apps\n    replicas: 1\n    annotations:\n"
        f"      qscaler.io/vhost: {vhost}\n"
        "      qscaler.io/queues: orders\n"
        "      qscaler.io/messages-per-replica: '10'\n"
        "      qscaler.io/target-drain-seconds: '60'\n"
        "      qscaler.io/max-replicas: '50'\n"
    )
    return path


def prometheus_env(node: Broker) -> dict[str, str]:
    return {
        "QSCALER_SOURCE": "prometheus",
        "QSCALER_PROMETHEUS_URLS": node.prometheus_url,
        "QSCALER_POLL_INTERVAL_SECONDS": "1",
    }


def test_plan_reads_depths_through_prometheus(node: Broker, vhost_on: str, tmp_path: Path) -> None:
    node.declare_queues(vhost_on, "orders")
    node.publish(vhost_on, "orders", 95)
    bindings = write_bindings(tmp_path / "b.yaml", vhost_on)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QSCALER_")}
    env.update(prometheus_env(node))

    def plan() -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "qscaler", "plan", "--bindings", str(bindings), "--output", "json"],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        row: dict[str, Any] = json.loads(done.stdout)["workloads"][0]
        return row

    row = poll_until(
        "plan to see 95 ready", plan, lambda r: r["observation"]["messages_ready"] == 95
    )
    assert row["decision"]["recommended"] == 10  # ceil(95 / 10): the floor, no rate yet


def test_run_reports_publish_and_ack_rates(node: Broker, vhost_on: str, tmp_path: Path) -> None:
    node.declare_queues(vhost_on, "orders")
    ch = channel(node, vhost_on)
    bindings = write_bindings(tmp_path / "b.yaml", vhost_on)
    qscaler = QscalerProcess(tmp_path, "prometheus-run", prometheus_env(node), bindings).start()
    try:

        def traffic_and_status() -> dict[str, Any]:
            for _ in range(20):
                ch.basic_publish("", "orders", b"x")
            for _ in range(10):
                method, _props, _body = ch.basic_get("orders")
                if method is not None:
                    ch.basic_ack(method.delivery_tag)
            status, text = qscaler.get("/status")
            if status != 200:
                return {}
            workloads = json.loads(text)["workloads"]
            observation: dict[str, Any] = (workloads[0]["observation"] if workloads else {}) or {}
            return observation

        seen = poll_until(
            "qscaler run to report non-zero publish and ack rates",
            traffic_and_status,
            lambda o: (o.get("publish_rate") or 0) > 0 and (o.get("ack_rate") or 0) > 0,
            timeout=90,
            interval=0.5,
        )
        assert seen["error"] is None
    finally:
        qscaler.stop()
        ch.connection.close()
