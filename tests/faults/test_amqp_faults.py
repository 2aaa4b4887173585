"""Broker fault 9 over AMQP: connections reset, refused, or silent.

AmqpSource keeps one long-lived connection per vhost. `TcpFaultProxy` sits
between it and the real broker's AMQP port and resets a connection in the
middle of a poll (when the client sends the passive declare of a given
queue), refuses new connections, or freezes: accepts bytes and never answers,
the case pika's blocking client has no per-request timeout for. qscaler's real
loop drives the source; the assertions are the fault matrix's (rig.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from qscaler.outcome import Outcome
from qscaler.sources.amqp import AmqpSource
from tests.faults.conftest import Reader
from tests.faults.rig import Rig, by_reason, consumer
from tests.harness.faultproxy import TcpFaultProxy
from tests.harness.rabbitmq import Broker

pytestmark = pytest.mark.rabbitmq

#: Request timeout of the source: pika's stack_timeout is twice this, and the
#: AMQP heartbeat asked for is this (at least 1 s).
TIMEOUT = 1.0
#: Long enough for pika to notice a silent connection (1-2 heartbeats + 5 s
#: each) and fail a new handshake (stack_timeout); far below the 65-130 s the
#: broker's default 60 s heartbeat would take.
STALL_BOUND = 45.0


@pytest.fixture
def amqp_source(amqp_proxy: TcpFaultProxy, reader: Reader) -> Iterator[AmqpSource]:
    source = AmqpSource(amqp_proxy.url, reader.name, reader.password, timeout_seconds=TIMEOUT)
    yield source
    source.close()


def settled(broker: Broker, vhost: str, vhost_b: str, source: AmqpSource) -> Rig:
    """victim on two queues of vhost (30 messages: 3), neighbour on vhost_b (20: 2)."""
    broker.declare_queues(vhost, "a-one", "a-two")
    broker.declare_queues(vhost_b, "work")
    broker.publish(vhost, "a-one", 15)
    broker.publish(vhost, "a-two", 15)
    broker.publish(vhost_b, "work", 20)
    rig = Rig(
        source, [consumer("victim", "a-one,a-two", vhost), consumer("neighbour", "work", vhost_b)]
    )
    rig.cycle()  # passive declares are real time: no statistics lag
    assert (rig.fleet.replicas("victim"), rig.fleet.replicas("neighbour")) == (3, 2)
    rig.fault_starts()
    return rig


def cycle_within(rig: Rig, bound: float) -> dict[str, Outcome]:
    """One cycle on a thread; fail if it is still running after `bound` seconds."""
    result: dict[str, dict[str, Outcome]] = {}
    worker = threading.Thread(target=lambda: result.setdefault("o", rig.cycle()), daemon=True)
    worker.start()
    worker.join(bound)
    assert not worker.is_alive(), f"the control loop stalled for over {bound:g}s"
    return result["o"]


def test_09_connection_reset_mid_poll_holds_that_vhost_for_one_cycle_and_reconnects(
    broker: Broker,
    vhost: str,
    vhost_b: str,
    amqp_proxy: TcpFaultProxy,
    amqp_source: AmqpSource,
) -> None:
    """The connection is reset while the source declares the second queue and
    the reconnect is refused: the victim holds that cycle (kind=unavailable),
    the neighbour's connection is untouched and it keeps scaling; the next
    cycle reconnects and decides on real data."""
    rig = settled(broker, vhost, vhost_b, amqp_source)
    amqp_proxy.reset_on(b"a-two")
    amqp_proxy.refuse()
    broker.publish(vhost_b, "work", 20)
    outcomes = rig.cycle()
    assert by_reason(outcomes) == {"victim": "SourceError", "neighbour": "ScaleUp"}
    assert (rig.fleet.replicas("victim"), rig.fleet.replicas("neighbour")) == (3, 4)
    rig.assert_nothing_lowered()
    assert rig.source_errors(vhost, "unavailable") == 1
    assert rig.held("victim", "SourceError")
    assert "cannot connect" in rig.fault_events("victim", "SourceError")[0].message
    assert not rig.fault_events("neighbour", "SourceError")

    amqp_proxy.accept()
    connections = amqp_proxy.connections
    broker.publish(vhost, "a-two", 20)
    assert by_reason(rig.cycle())["victim"] == "ScaleUp"
    assert rig.fleet.replicas("victim") == 5
    assert amqp_proxy.connections == connections + 1, "one new connection for the victim's vhost"
    assert not rig.held("victim", "SourceError")


def test_09_connections_reset_between_polls_are_replaced_within_the_next_read(
    broker: Broker,
    vhost: str,
    vhost_b: str,
    amqp_proxy: TcpFaultProxy,
    amqp_source: AmqpSource,
) -> None:
    """Every connection is reset while qscaler waits for its next poll (a broker
    or load balancer restart): the next read notices and reconnects within the
    read, so no poll fails and nothing holds."""
    rig = settled(broker, vhost, vhost_b, amqp_source)
    assert amqp_proxy.drop_all() == 2
    broker.publish(vhost, "a-one", 20)
    broker.publish(vhost_b, "work", 20)
    assert by_reason(rig.cycle()) == {"victim": "ScaleUp", "neighbour": "ScaleUp"}
    assert (rig.fleet.replicas("victim"), rig.fleet.replicas("neighbour")) == (5, 4)
    assert amqp_proxy.open_connections() == 2
    assert rig.source_errors(vhost, "unavailable") == 0
    rig.assert_nothing_lowered()


def test_09_a_broker_that_stops_answering_an_open_connection_cannot_stall_the_loop(
    broker: Broker,
    vhost: str,
    reader: Reader,
    amqp_proxy: TcpFaultProxy,
    amqp_source: AmqpSource,
) -> None:
    """The proxy freezes: bytes are accepted, nothing comes back, nothing is
    closed. pika's blocking declare has no timeout of its own; the heartbeat the
    source asks for closes the silent connection, the reconnect fails its
    handshake within stack_timeout, and the cycle ends with a hold instead of
    stalling. (With the broker's default 60 s heartbeat the same cycle took
    over a minute and then crashed on pika's untranslated handshake timeout.)"""
    broker.grant(vhost, reader.name)
    broker.declare_queues(vhost, "work")
    broker.publish(vhost, "work", 30)
    rig = Rig(amqp_source, [consumer("victim", "work", vhost)])
    rig.cycle()
    assert rig.fleet.replicas("victim") == 3
    rig.fault_starts()

    amqp_proxy.freeze()
    outcomes = cycle_within(rig, STALL_BOUND)
    assert by_reason(outcomes) == {"victim": "SourceError"}
    assert rig.source_errors(vhost, "unavailable") == 1
    assert "handshake" in rig.fault_events("victim", "SourceError")[0].message
    rig.assert_nothing_lowered()

    amqp_proxy.thaw()
    broker.publish(vhost, "work", 20)
    assert by_reason(rig.cycle()) == {"victim": "ScaleUp"}
    assert rig.fleet.replicas("victim") == 5


def test_09_a_broker_that_never_answers_the_handshake_fails_that_vhost_only(
    broker: Broker,
    vhost: str,
    vhost_b: str,
    amqp_proxy: TcpFaultProxy,
    reader: Reader,
) -> None:
    """A new connection whose AMQP handshake is never answered fails within
    pika's stack_timeout as kind=unavailable for its vhost. pika raises
    AMQPConnectorStackTimeout, which is no AMQPError: before it was translated,
    it escaped the source and aborted the whole cycle, every vhost with it. A
    neighbour read directly (not through the silent proxy) keeps scaling."""
    broker.declare_queues(vhost, "work")
    broker.declare_queues(vhost_b, "work")
    broker.publish(vhost, "work", 30)
    broker.publish(vhost_b, "work", 20)
    silent = AmqpSource(amqp_proxy.url, reader.name, reader.password, timeout_seconds=TIMEOUT)
    direct = AmqpSource(broker.amqp_url, reader.name, reader.password, timeout_seconds=TIMEOUT)

    class PerVhost:
        """The victim's vhost through the frozen proxy, the neighbour's direct."""

        def read(self, request):  # type: ignore[no-untyped-def]
            return (silent if request.vhost == vhost else direct).read(request)

        def close(self) -> None:
            silent.close()
            direct.close()

    rig = Rig(
        PerVhost(),
        [consumer("victim", "work", vhost, replicas=3), consumer("neighbour", "work", vhost_b)],
    )
    rig.fault_starts()
    amqp_proxy.freeze()
    try:
        outcomes = cycle_within(rig, STALL_BOUND)
    finally:
        rig.source.close()
    assert by_reason(outcomes) == {"victim": "SourceError", "neighbour": "ScaleFromZero"}
    assert (rig.fleet.replicas("victim"), rig.fleet.replicas("neighbour")) == (3, 2)
    assert rig.source_errors(vhost, "unavailable") == 1
    assert "Timeout during AMQP handshake" in rig.fault_events("victim", "SourceError")[0].message
    rig.assert_nothing_lowered()
