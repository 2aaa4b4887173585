"""Quorum queues and streams, read live on every broker version, through the real loop.

Each test runs qscaler's Controller (tests/faults/rig.py: the production loop
with a recorded fleet) over the management source against the session's node
of each version. Streams are read by a real stream-protocol consumer
(tests/harness/streams.py): their message count is the retained log, and only
the consumers' offset lag is a backlog (qscaler/sources/streams.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qscaler.core.reasons import Reason
from qscaler.errors import SourceDataError
from qscaler.sources import VhostRequest
from qscaler.sources.management import ManagementSource
from tests.faults.rig import Rig, consumer
from tests.harness.rabbitmq import Broker, poll_until
from tests.harness.streams import StreamReader

pytestmark = pytest.mark.rabbitmq

LOG = 600  # messages in the stream's log


@pytest.fixture
def source(broker: Broker) -> Iterator[ManagementSource]:
    """A management source on the session's node of this version."""
    found = ManagementSource.connect(broker.mgmt_url, broker.user, broker.password)
    yield found
    found.close()


def stream_lag(broker: Broker, vhost: str, stream: str) -> int | None:
    """What the stream management plugin says the consumer's lag is (None: no consumer)."""
    listed = broker.api.get(f"/api/stream/consumers/{vhost}").json()
    lags = [c["offset_lag"] for c in listed if c["queue"]["name"] == stream]
    return max(lags) if lags else None


def test_quorum_queue_ready_and_in_flight_under_count_ready_and_all(
    broker: Broker, vhost: str, source: ManagementSource
) -> None:
    broker.declare_queues(vhost, "work", queue_type="quorum")
    broker.publish(vhost, "work", 12)
    holder = broker.hold(vhost, "work", 4)
    try:
        snapshot = poll_until(
            "the quorum queue counted with 4 in flight",
            lambda: source.read(VhostRequest(vhost, frozenset({"work"}))),
            lambda s: "work" in s.queues and s.queues["work"].messages_unacknowledged == 4,
            retry_on=(SourceDataError,),  # not counted within its first statistics interval
        )
        assert snapshot.queues["work"].messages_ready == 8
        rig = Rig(
            source,
            [
                consumer("ready", "work", vhost, messages_per_replica="2", count="ready"),
                consumer("all", "work", vhost, messages_per_replica="2", count="all"),
            ],
        )
        rig.until("both sized", rig.at(ready=4, all=6))
    finally:
        holder.close()


def test_stream_scales_on_consumer_lag_and_a_caught_up_stream_goes_to_min(
    broker: Broker, vhost: str, source: ManagementSource
) -> None:
    """Version-independent behaviour, version-specific plumbing: the stream
    plugin's consumer listing is the same on 3.10 and 4.0."""
    broker.declare_queues(vhost, "events", queue_type="stream")
    broker.publish(vhost, "events", LOG)
    reader = StreamReader(broker, vhost, "events", pause_after=100).start()
    try:
        reader.wait_received(100)
        lag = poll_until(
            "the broker to report the paused consumer's lag",
            lambda: stream_lag(broker, vhost, "events"),
            lambda v: v is not None and v > 0,
        )
        assert lag is not None
        assert lag < LOG
        workload = consumer(
            "reader", "events", vhost, replicas=1, messages_per_replica="100", min_replicas="1"
        )
        rig = Rig(source, [workload])
        outcome = rig.until("scaled up on the lag", lambda _: rig.fleet.replicas("reader") > 1)
        decision = outcome["reader"].decision
        assert decision is not None
        assert decision.backlog is not None
        assert 0 < decision.backlog < LOG  # the lag, not the log

        reader.resume()
        rig.until("caught up: back to min-replicas", rig.at(reader=1), timeout=60)
        # caught up while the log still holds all LOG messages (a stream keeps them)
    finally:
        reader.close()


def test_stream_without_a_stream_consumer_holds_with_its_own_reason(
    broker: Broker, vhost: str, source: ManagementSource
) -> None:
    """Bound alone and under `sum` with classic queues: never read as the log's length,
    never as 0; held, with a Warning Event naming the stream."""
    broker.declare_queues(vhost, "quiet", queue_type="stream")
    broker.declare_queues(vhost, "jobs")
    broker.publish(vhost, "quiet", 50)
    broker.publish(vhost, "jobs", 30)
    rig = Rig(
        source,
        [
            consumer("alone", "quiet", vhost, replicas=2),
            consumer("mixed", "re:^(jobs|quiet)$", vhost, replicas=5, aggregate="sum"),
            consumer("classic", "jobs", vhost),
        ],
    )
    outcomes = rig.until("the classic queue counted", rig.at(classic=3), timeout=60)
    for name in ("alone", "mixed"):
        assert outcomes[name].reason is Reason.BACKLOG_UNKNOWN
    assert (rig.fleet.replicas("alone"), rig.fleet.replicas("mixed")) == (2, 5)
    assert rig.fleet.lowered() == []
    [event, *_] = rig.events.of("alone", "BacklogUnknown")
    assert event.type == "Warning"
    assert "'quiet'" in event.message
    assert "no stream-protocol consumer" in event.message


def test_queue_redeclared_as_quorum_holds_while_gone_then_reads_as_quorum(
    broker: Broker, vhost: str, source: ManagementSource
) -> None:
    broker.declare_queues(vhost, "work", durable=True)
    broker.publish(vhost, "work", 20)
    rig = Rig(source, [consumer("w", "work", vhost)])
    rig.until("sized on the classic queue", rig.at(w=2))
    rig.fault_starts()
    broker.delete_queues(vhost, "work")
    rig.until("the deleted queue reported", lambda o: o["w"].reason is Reason.QUEUE_MISSING)
    rig.assert_nothing_lowered()
    broker.declare_queues(vhost, "work", queue_type="quorum")
    broker.publish(vhost, "work", 40, atomic=True)
    rig.until("sized on the quorum queue", rig.at(w=4), timeout=60)
