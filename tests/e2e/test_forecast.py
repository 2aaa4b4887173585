"""The forecast end to end: recurring bursts into a real queue, a real consumer, and
the floor of a real Deployment raised before the next burst is published.

The period is shortened to 2 minutes (the forecaster works on 15-s buckets,
so anything from one minute up is a period to it), long enough that the
workload is back at 1 replica well before the forecast is due: a forecast
that only slowed a scale-down would not be a raise. Two bursts are history; the
test then waits for the Forecast Event without publishing anything, so the
raise cannot be a reaction to the burst: that burst has not been sent. It
runs on one broker version: the forecast reads only the publish rate, which
every version reports alike.

Each burst starts just after one of the forecaster's 15-s buckets begins (its
buckets count on the monotonic clock, which this process shares). One real
consumer is a small workload: a 5-s burst split across two buckets averages,
in each, less than that consumer processes, and the floor it asks for is the
one replica already running. Bursts at any phase are the unit tests' concern
(tests/unit/test_forecast.py); this test is about the whole path. A burst
inside one bucket averages twice one consumer's throughput: a raise to 2.

Then leadership moves to a second process that has seen no burst at all: it
starts as a follower, the first stops and hands the Lease over, and the
second shows the learned period at once. It can only have it from the
ConfigMap the first kept the forecast's history in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from qscaler.core.forecast import BUCKET_SECONDS
from tests.e2e.conftest import ENABLED, StartQscaler
from tests.harness.k8s import ControlPlane
from tests.harness.rabbitmq import Broker, poll_until

pytestmark = [
    pytest.mark.k8s,
    pytest.mark.rabbitmq,
    pytest.mark.slow,
    pytest.mark.rabbitmq_versions("4.0.5"),
]

PERIOD = 120.0  # 8 of the forecaster's buckets
QUIET_BEFORE = 60.0  # history before the first burst: enough buckets to test the lag
BURST_SECONDS, BURST_RATE = 5, 60  # 300 messages, drained in about 30 s by one consumer
WORK_SECONDS = 0.1  # the consumer processes about 10 messages per second


@pytest.fixture
def consumer(broker: Broker, vhost: str) -> Iterator[None]:
    """One real consumer on the queue, acknowledging each message after WORK_SECONDS."""
    stop = threading.Event()

    def consume() -> None:
        connection = broker.connect(vhost)
        channel = connection.channel()
        channel.basic_qos(prefetch_count=1)

        def work(ch: object, method: object, _props: object, _body: bytes) -> None:
            time.sleep(WORK_SECONDS)
            channel.basic_ack(method.delivery_tag)  # type: ignore[attr-defined]

        channel.basic_consume("work", work)
        while not stop.is_set():
            connection.process_data_events(time_limit=0.2)
        connection.close()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


def next_bucket_start() -> float:
    """A second into the next bucket on the monotonic clock, and wait for it."""
    start = (time.monotonic() // BUCKET_SECONDS + 1) * BUCKET_SECONDS + 1.0
    time.sleep(start - time.monotonic())
    return start


def burst(broker: Broker, vhost: str) -> None:
    for _ in range(BURST_SECONDS):
        started = time.monotonic()
        broker.publish(vhost, "work", BURST_RATE)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


def test_the_floor_rises_before_a_recurring_burst(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
    request: pytest.FixtureRequest,
) -> None:
    broker.declare_queues(vhost, "work")
    request.getfixturevalue("consumer")
    annotations = {
        "qscaler.io/queues": "work",
        "qscaler.io/vhost": vhost,
        "qscaler.io/target-drain-seconds": "60",
        "qscaler.io/min-replicas": "1",
        "qscaler.io/max-replicas": "10",
        "qscaler.io/cooldown": "10s",
    }
    control_plane.deployment(namespace, "worker", 1, annotations, ENABLED)
    qscaler = start_qscaler(forecast_store_seconds="5")
    time.sleep(QUIET_BEFORE)
    first = next_bucket_start()
    burst(broker, vhost)
    time.sleep(max(0.0, first + PERIOD - time.monotonic()))
    burst(broker, vhost)

    # Nothing more is published: a raise now can only come from the forecast.
    try:
        # Ahead of the third burst.
        control_plane.await_events(namespace, "worker", "Forecast", timeout=2 * PERIOD)
    except AssertionError:
        print(qscaler.get("/status")[1])  # what it decided, for the failure report
        raise
    # The Event is written only with the write it reports: the floor was raised.
    event = control_plane.events_by_reason(namespace, "worker")["Forecast"][0]
    assert "recurs every" in event["message"], event["message"]
    labels = {"namespace": namespace, "workload": "worker", "kind": "Deployment"}
    period = qscaler.metric("qscaler_forecast_period_seconds", **labels)
    assert period is not None
    assert abs(period - PERIOD) <= 15  # one 15-s bucket

    second = start_qscaler("b", forecast_store_seconds="5")  # a follower: the Lease is taken
    assert second.metric("qscaler_forecast_period_seconds", **labels) is None
    qscaler.stop()  # hands the Lease over
    restored = poll_until(
        "the second process's forecast, from the first's history",
        lambda: second.metric("qscaler_forecast_period_seconds", **labels),
        done=lambda value: value is not None,
        timeout=60,
    )
    assert restored is not None
    assert abs(restored - PERIOD) <= 15, second.logs()
    restores = {"operation": "restore", "result": "ok"}
    assert second.metric("qscaler_forecast_store_operations_total", **restores) == 1
