"""Broker fault 10: the broker restarts while qscaler polls it.

A restart is an outage (every read fails while the node is down) followed by a
broker whose statistics start from zero: counters reset, and the first rate
samples can be bogus (rabbitmq/rabbitmq-server#8418). This test restarts a
RabbitMQ node of its own (the session's node serves every other test), once per
broker version (a 4.x node restarting mid-cycle is one of issue 12's faults), with a
durable queue holding persistent messages, so the backlog really survives.
qscaler's real loop polls it through the fault proxy all along; the proxy
also injects the documented bogus rate spike right after the restart, so the
smoothing is tested on the worst case rather than on whatever this node's
first sample happens to be.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qscaler.sources.management import ManagementSource
from tests.faults.rig import Rig, consumer
from tests.harness.faultproxy import HttpFaultProxy, Rewrite, Rule
from tests.harness.rabbitmq import Broker

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

#: The loop's rate time constant (LoopConfig in rig.py).
TAU = 15.0
SPIKE = 1_000_000.0


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory, rabbitmq_version: str) -> Iterator[Broker]:
    """A node only this test uses, so restarting it disturbs no other test."""
    node = Broker(Path(tmp_path_factory.mktemp("rabbitmq-restart")), version=rabbitmq_version)
    node.start()
    yield node
    node.stop()


def _spike(document: dict[str, object]) -> dict[str, object]:
    return {**document, "message_stats": {"publish_details": {"rate": SPIKE}}}


def publish_rates(rig: Rig) -> list[tuple[float, float | None, float | None]]:
    """(read at, raw sample, smoothed) of the victim's queue, poll by poll."""
    found = []
    for outcomes in rig.history:
        observation = outcomes["victim"].observation
        if observation is None or not observation.queues or observation.observed_at is None:
            continue
        queue = observation.queues[0]
        found.append((observation.observed_at, queue.publish_rate_sample, queue.publish_rate))
    return found


def assert_ewma(samples: list[tuple[float, float | None, float | None]]) -> None:
    """Every smoothed rate moved from the previous one by exactly the EWMA weight
    of the time between the two polls: no sample, bogus or not, moves it further."""
    for (t0, _, before), (t1, raw, after) in itertools.pairwise(samples):
        if t1 == t0:
            continue  # the same snapshot seen twice
        if raw is None or before is None:
            assert after == (before if raw is None else raw)
            continue
        weight = 1 - math.exp(-(t1 - t0) / TAU)
        assert after == pytest.approx(before + weight * (raw - before), rel=1e-9)


def test_10_broker_restart_holds_through_the_outage_and_damps_the_rate_spike(
    own_broker: Broker,
) -> None:
    """While the node is down every poll holds (kind=unavailable); afterwards the
    durable backlog is read again and nothing was scaled down; a bogus publish
    rate of 1,000,000/s right after the restart moves the smoothed rate only by
    the EWMA weight of one poll interval; and the workload scales on new
    messages as before."""
    own_broker.create_vhost("restart")
    own_broker.declare_queues("restart", "work", durable=True)
    own_broker.publish("restart", "work", 30, persistent=True)
    proxy = HttpFaultProxy(own_broker.mgmt_url)
    source = ManagementSource.connect(
        proxy.url, own_broker.user, own_broker.password, timeout_seconds=2.0
    )
    rig = Rig(source, [consumer("victim", "work", "restart")])
    try:

        def traffic_then_settled(_: object) -> bool:
            # Take 5, then put 5 back: the depth moves between 25 and 30, 3 replicas
            # either way, however late a poll reads it (publishing first showed 35, a
            # 4th replica, and a legitimate scale-down once the fault had started).
            own_broker.consume("restart", "work", 5)
            own_broker.publish("restart", "work", 5, persistent=True)
            return rig.fleet.replicas("victim") == 3 and bool(publish_rates(rig))

        rig.until("the victim at 3 with publish rates", traffic_then_settled)
        rig.fault_starts()

        restarting = threading.Thread(target=own_broker.restart)
        restarting.start()
        while restarting.is_alive():
            rig.cycle()
            time.sleep(0.3)
        restarting.join()
        down = [o["victim"].reason for o in rig.history if o["victim"].reason == "SourceError"]
        assert down, "no poll failed while the node was down"
        assert rig.source_errors("restart", "unavailable") >= 1
        rig.until(
            "the backlog read again after the restart", lambda o: o["victim"].reason == "Steady"
        )
        assert rig.fleet.replicas("victim") == 3

        proxy.set(Rule(Rewrite(_spike)))
        rig.cycle()
        proxy.clear()
        rig.cycle()
        rates = publish_rates(rig)
        assert any(raw == SPIKE for _, raw, _ in rates), "the spike was read"
        assert_ewma(rates)
        spiked = next(smoothed for _, raw, smoothed in rates if raw == SPIKE)
        assert spiked is not None
        assert spiked < SPIKE / 2, "one poll moved the smoothed rate most of the way"
        rig.assert_nothing_lowered()

        own_broker.publish("restart", "work", 20, persistent=True)
        rig.until("the victim scaled to 5 after the restart", rig.at(victim=5))
    finally:
        source.close()
        proxy.close()
