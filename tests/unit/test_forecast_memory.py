"""The loop's hook into the forecast's memory when the process stops.

`ControlLoop.save_memory` runs once the cycles have stopped, before the Lease
is released: it hands the histories of the last cycle to the memory's
`flush`, and a memory that fails there must not stop the process from
stopping. The memory here is an in-memory stand-in of qscaler's own
`ForecastMemory` protocol; the ConfigMap behind the real one is tested on a
real control plane (tests/e2e/test_forecast_store.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pytest
from prometheus_client import CollectorRegistry

from qscaler.bindings_file import StaticCluster
from qscaler.core.forecast_codec import Memory
from qscaler.core.model import History, QueueStats, VhostSnapshot
from qscaler.core.workload import Workload, WorkloadRef
from qscaler.loop import ControlLoop
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.sources import VhostRequest
from tests.harness.memory import RecordingWriter

REF = WorkloadRef("apps", "worker")


class Broker:
    """One queue with a backlog that a test's clock moves through."""

    def __init__(self) -> None:
        self.now = 100.0

    def read(self, request: VhostRequest) -> VhostSnapshot:
        queues = {"work": QueueStats("work", 40, 0, 1, publish_rate=8.0, ack_rate=4.0)}
        return VhostSnapshot(request.vhost, queues, self.now, frozenset())

    def close(self) -> None:
        pass


class Kept:
    """A `ForecastMemory` that remembers every hand-over, in order."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.handed: list[tuple[str, dict[WorkloadRef, History]]] = []

    def load(self) -> None:
        pass

    def recall(self, ref: WorkloadRef) -> Memory | None:
        return None

    def keep(self, histories: Mapping[WorkloadRef, History]) -> None:
        self.handed.append(("keep", dict(histories)))

    def flush(self, histories: Mapping[WorkloadRef, History]) -> None:
        if self.fail:
            raise RuntimeError("the apiserver went away")
        self.handed.append(("flush", dict(histories)))


def rate_aware_loop(broker: Broker, memory: Kept) -> ControlLoop:
    annotations = {
        "qscaler.io/queues": "work",
        "qscaler.io/target-drain-seconds": "60",
        "qscaler.io/max-replicas": "20",
    }
    return ControlLoop(
        StaticCluster([Workload(REF, 1, 1, annotations)], []),
        broker,
        RecordingWriter(),
        OutcomeRecorder(Metrics(CollectorRegistry())),
        clock=lambda: broker.now,
        memory=memory,
    )


def test_stopping_hands_the_last_cycles_histories_over_at_once() -> None:
    broker, memory = Broker(), Kept()
    loop = rate_aware_loop(broker, memory)
    for _ in range(3):
        loop.cycle()
        broker.now += 5.0
    assert [what for what, _ in memory.handed] == ["keep"] * 3
    loop.save_memory()
    what, histories = memory.handed[-1]
    assert what == "flush"
    assert histories == loop.histories
    assert histories[REF].forecast is not None, "what the forecast learned is in it"
    assert histories[REF] == memory.handed[-2][1][REF], "no cycle in between: the last one's"


def test_a_memory_failing_while_stopping_is_logged_and_the_stop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = Broker()
    loop = rate_aware_loop(broker, Kept(fail=True))
    loop.cycle()
    with caplog.at_level(logging.ERROR, "qscaler.loop"):
        loop.save_memory()
    assert "saving before stopping failed" in caplog.text
    assert "the apiserver went away" in caplog.text
