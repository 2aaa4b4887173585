"""The activation probe against a real RabbitMQ: a zero-replica workload wakes
between polls, on the passive declare's count, before the management API
could have shown the messages.

The loop runs as `qscaler run` runs it (`run_forever`, the real
ManagementSource and an AmqpSource probe), with a poll interval of an hour: the
only management API read is the first cycle's, made before the publish, so a
wake can only come from the probe, and its backlog only from the declare.
The cluster and the writer are qscaler's own protocols (in-memory); the
Kubernetes side of a wake is tested by the probe test of
tests/e2e/test_actuation.py (a real `qscaler run`).
"""

from __future__ import annotations

import secrets
import threading
import time

import pytest
from prometheus_client import CollectorRegistry

from qscaler.app import PROBE_CONNECTION_NAME, Runtime, make_probe, run_forever
from qscaler.bindings_file import StaticCluster
from qscaler.brokers import default_broker
from qscaler.core.actuation import Plan
from qscaler.core.wake import Sleeper
from qscaler.core.workload import Workload, WorkloadRef
from qscaler.errors import SourceDataError, SourceError
from qscaler.loop import ControlLoop
from qscaler.outcome import CycleReport, Outcome
from qscaler.probe import ActivationProbe
from qscaler.record.metrics import Metrics
from qscaler.record.server import Health
from qscaler.settings import load_settings
from qscaler.sources import VhostRequest
from qscaler.sources.amqp import AmqpSource
from qscaler.sources.management import ManagementSource
from tests.harness.memory import RecordingWriter
from tests.harness.rabbitmq import Broker, poll_until

pytestmark = pytest.mark.rabbitmq


class Outcomes:
    """A Recorder that keeps what the loop reports."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.cycles: list[CycleReport] = []

    def outcome(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def source_read(
        self, vhost: str, error: SourceError | None, at: float, broker: str = "default"
    ) -> None:
        pass

    def cycle(self, report: CycleReport) -> None:
        self.cycles.append(report)


def test_a_zero_replica_workload_wakes_on_the_probe_before_the_management_api(
    broker: Broker, vhost: str
) -> None:
    broker.declare_queues(vhost, "orders", "quiet")
    management = ManagementSource.connect(broker.mgmt_url, broker.user, broker.password)
    request = VhostRequest(vhost, frozenset({"orders", "quiet"}))
    poll_until(  # a queue is counted from the first statistics interval on
        "the new queues to be counted",
        lambda: management.read(request),
        lambda snapshot: not snapshot.missing,
        retry_on=(SourceDataError,),
    )
    annotations = {
        "qscaler.io/vhost": vhost,
        "qscaler.io/messages-per-replica": "10",
        "qscaler.io/min-replicas": "0",
    }
    workloads = [
        Workload(WorkloadRef("apps", name), 0, 0, {**annotations, "qscaler.io/queues": queue})
        for name, queue in (("orders-worker", "orders"), ("quiet-worker", "quiet"))
    ]
    recorder, writer = Outcomes(), RecordingWriter()
    loop = ControlLoop(StaticCluster(workloads), management, writer, recorder, clock=time.monotonic)
    name = f"qscaler-probe-{secrets.token_hex(3)}"
    probe = ActivationProbe(
        AmqpSource(broker.amqp_url, broker.user, broker.password, connection_name=name)
    )
    runtime = Runtime(
        loop,
        Metrics(CollectorRegistry()),
        Health(time.monotonic, stuck_after_seconds=3600),
        stoppers=[management.close, probe.close],
        probes={"default": probe},
        probe_seconds=0.2,
    )
    thread = threading.Thread(target=run_forever, args=(runtime, 3600.0), daemon=True)
    thread.start()
    try:
        poll_until("the first cycle", lambda: recorder.cycles)
        reads = management.requests_made
        broker.publish(vhost, "orders", 7, atomic=True)
        assert writer.wrote.wait(timeout=60), "the workload was not woken within 60 s"
    finally:
        runtime.stop_event.set()
        thread.join(timeout=30)

    assert writer.writes == [("orders-worker", Plan(applied=1, desired=1, replicas=1))]
    assert management.requests_made == reads  # no poll since the publish
    woken = [o for o in recorder.outcomes if o.written]
    assert len(woken) == 1
    observation, decision = woken[0].observation, woken[0].decision
    assert observation is not None
    assert decision is not None
    assert observation.probed == ("orders",)  # the declare's count, above the API's 0
    # The probe may count the queue while the 7 are still being enqueued: a
    # transaction's commit is not atomic towards another channel's passive
    # declare (seen on 4.0.5: a wake on 2). Any count the probe saw wakes it.
    assert decision.reason.value == "ScaleFromZero"
    assert decision.backlog is not None
    assert 1 <= decision.backlog <= 7
    assert probe.queues_probed > 0


def test_the_probe_s_connections_are_named_for_the_broker_operator(
    broker: Broker, vhost: str
) -> None:
    broker.declare_queues(vhost, "orders")
    settings = load_settings(
        amqp_url=broker.amqp_url, username=broker.user, password=broker.password
    )
    probe = make_probe(default_broker(settings), settings)
    assert probe is not None, "an AMQP URL is set: the probe is on by default"
    try:
        probe.check([Sleeper(WorkloadRef("apps", "w"), vhost, ("orders",), 0)])

        def probe_connections() -> list[str]:
            listed = broker.api.get(
                "/api/connections", params={"columns": "vhost,client_properties"}
            ).json()
            return [
                c["client_properties"].get("connection_name")
                for c in listed
                if c.get("vhost") == vhost
            ]

        poll_until("the probe's connection to be listed", probe_connections)
        assert probe_connections() == [PROBE_CONNECTION_NAME]
    finally:
        probe.close()
