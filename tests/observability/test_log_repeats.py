"""Log lines of a lasting problem: written when it starts, then at most once
per repeat period, and at once when it changes or comes back.

The real ControlLoop, OutcomeRecorder and Metrics with the in-memory broker of
tests/unit/test_loop.py, cycle by cycle on the broker's clock (5 s apart, as
the default poll interval), with a repeat period of 60 s.
"""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from qscaler.bindings_file import StaticCluster
from qscaler.core.model import VhostSnapshot
from qscaler.core.workload import Workload
from qscaler.errors import SourceUnavailable
from qscaler.loop import ControlLoop
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.sources import VhostRequest
from tests.harness.memory import RecordingWriter
from tests.unit.test_loop import Broker, deploy, value

REPEAT_SECONDS = 60.0


def world(workloads: list[Workload], broker: Broker) -> tuple[ControlLoop, CollectorRegistry]:
    registry = CollectorRegistry()
    reporter = OutcomeRecorder(
        Metrics(registry), repeat_seconds=REPEAT_SECONDS, clock=lambda: broker.now
    )
    loop = ControlLoop(
        StaticCluster(workloads), broker, RecordingWriter(), reporter, clock=lambda: broker.now
    )
    return loop, registry


def cycles(loop: ControlLoop, broker: Broker, count: int) -> None:
    for _ in range(count):
        loop.cycle()
        broker.now += 5


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


def test_an_invalid_binding_is_logged_once_per_period_with_the_count_of_skipped_cycles(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = Broker({"/": {"q": 30}})
    broken = deploy("broken", queues="q", min_replicas="many")
    loop, registry = world([broken, deploy("fine", queues="q")], broker)
    cycles(loop, broker, 12)  # t = 100 … 155: inside one period
    logged = warnings_about(caplog, "InvalidBinding")
    assert len(logged) == 1
    cycles(loop, broker, 1)  # t = 160: the period is over
    logged = warnings_about(caplog, "InvalidBinding")
    assert len(logged) == 2
    assert logged[1].fields["repeats_not_logged"] == 11  # type: ignore[attr-defined]
    labels = {"namespace": "apps", "workload": "fine", "kind": "Deployment"}
    assert value(registry, "qscaler_replicas_desired", **labels) == 3  # the neighbour scaled


def test_a_problem_that_ends_and_comes_back_is_logged_again_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = Broker({"/": {"q": 30}, "v": {"q": 10}}, down=frozenset({"v"}))
    loop, _ = world([deploy("w", queues="q", vhost="v")], broker)
    cycles(loop, broker, 3)
    assert len(warnings_about(caplog, "reading vhost 'v' failed")) == 1
    assert len(warnings_about(caplog, "apps/w SourceError")) == 1  # the workload's hold
    broker.down = frozenset()
    cycles(loop, broker, 1)  # read fine: the run ends
    broker.down = frozenset({"v"})
    cycles(loop, broker, 1)
    assert len(warnings_about(caplog, "reading vhost 'v' failed")) == 2
    assert len(warnings_about(caplog, "apps/w SourceError")) == 2


def test_a_different_error_is_logged_at_once(caplog: pytest.LogCaptureFixture) -> None:
    broker = Broker({"/": {"q": 30}})
    broken = deploy("w", queues="q", min_replicas="many")
    loop, _ = world([broken], broker)
    cycles(loop, broker, 2)
    loop.cluster = StaticCluster([deploy("w", queues="q", max_replicas="lots")])
    cycles(loop, broker, 1)
    logged = warnings_about(caplog, "InvalidBinding")
    assert [("many" in r.getMessage(), "lots" in r.getMessage()) for r in logged] == [
        (True, False),
        (False, True),
    ]


class ChangingFailure(Broker):
    """Every read of vhost "v" fails with `message`."""

    message = "connection refused"

    def read(self, request: VhostRequest) -> VhostSnapshot:
        if request.vhost == "v":
            raise SourceUnavailable(f"vhost v: {self.message}")
        return super().read(request)


def test_the_same_error_with_other_numbers_is_one_problem_other_words_another(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = ChangingFailure({"v": {"q": 10}})
    loop, _ = world([deploy("w", queues="q", vhost="v")], broker)
    for attempt in range(3):
        broker.message = f"timed out after {5 + attempt} s"
        cycles(loop, broker, 1)
    assert len(warnings_about(caplog, "reading vhost 'v' failed")) == 1
    assert len(warnings_about(caplog, "apps/w SourceError")) == 1
    broker.message = "HTTP 503: busy"
    cycles(loop, broker, 1)
    assert len(warnings_about(caplog, "reading vhost 'v' failed")) == 2
    assert len(warnings_about(caplog, "apps/w SourceError")) == 2


def test_without_a_repeat_period_every_cycle_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    broker = Broker({"/": {"q": 30}})
    registry = CollectorRegistry()
    loop = ControlLoop(
        StaticCluster([deploy("w", queues="q", min_replicas="many")]),
        broker,
        RecordingWriter(),
        OutcomeRecorder(Metrics(registry)),
        clock=lambda: broker.now,
    )
    cycles(loop, broker, 3)
    assert len(warnings_about(caplog, "InvalidBinding")) == 3
