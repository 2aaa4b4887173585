"""Series that must go away, or stay, for the alerts and the dashboard to tell the truth.

Read through the registry (client_python's `get_sample_value`) with the real
ControlLoop, OutcomeRecorder and Metrics and the in-memory adapters of
tests/unit/test_loop.py. Each case is one an alert depends on: a follower
that once led must not serve its old view (it would age into QscalerPollsStale
and double the leader's series), a vhost nobody binds any more must not look
stale forever, a refused write must show as held back (QscalerWriteFailing),
and a dry-run process must say so for every workload, not only for those that
wanted to move this cycle.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from qscaler.bindings_file import StaticCluster
from qscaler.loop import ControlLoop, LoopConfig
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from tests.harness.memory import RecordingWriter
from tests.unit.test_loop import Broker, controller, deploy, value

LABELS = {"namespace": "apps", "kind": "Deployment"}


class Switch:
    """Leadership that the test turns on and off."""

    def __init__(self) -> None:
        self.leading = True

    def is_leader(self) -> bool:
        return self.leading


def test_a_follower_that_led_serves_no_workload_or_vhost_series() -> None:
    broker = Broker({"/": {"q": 30}})
    loop, registry, _ = controller([deploy("w", queues="q")], broker, RecordingWriter())
    leadership = Switch()
    loop.leadership = leadership
    loop.cycle()
    assert value(registry, "qscaler_replicas_desired", workload="w", **LABELS) == 3
    assert (
        value(
            registry, "qscaler_last_successful_poll_timestamp_seconds", broker="default", vhost="/"
        )
        is not None
    )

    leadership.leading = False
    loop.cycle()
    assert value(registry, "qscaler_leader") == 0
    assert value(registry, "qscaler_replicas_desired", workload="w", **LABELS) is None
    assert value(registry, "qscaler_queue_messages", workload="w", state="ready", **LABELS) is None
    assert (
        value(
            registry, "qscaler_last_successful_poll_timestamp_seconds", broker="default", vhost="/"
        )
        is None
    )
    assert (value(registry, "qscaler_workloads"), value(registry, "qscaler_invalid_bindings")) == (
        0,
        0,
    )


def test_an_unbound_vhost_loses_its_poll_timestamp_but_a_failing_one_keeps_it() -> None:
    broker = Broker({"/": {"q": 10}, "old": {"q": 10}, "flaky": {"q": 10}})
    workloads = [
        deploy("a", queues="q"),
        deploy("b", queues="q", vhost="old"),
        deploy("c", queues="q", vhost="flaky"),
    ]
    loop, registry, _ = controller(workloads, broker, RecordingWriter())
    loop.cycle()
    last_good = value(
        registry, "qscaler_last_successful_poll_timestamp_seconds", broker="default", vhost="flaky"
    )
    assert last_good is not None

    broker.down = frozenset({"flaky"})
    loop.cluster = StaticCluster([workloads[0], workloads[2]])
    loop.cycle()
    assert (
        value(
            registry,
            "qscaler_last_successful_poll_timestamp_seconds",
            broker="default",
            vhost="old",
        )
        is None
    )
    # QscalerPollsStale must see the failing vhost age: its last success stays.
    assert (
        value(
            registry,
            "qscaler_last_successful_poll_timestamp_seconds",
            broker="default",
            vhost="flaky",
        )
        == last_good
    )
    assert (
        value(
            registry,
            "qscaler_source_errors_total",
            broker="default",
            vhost="flaky",
            kind="unavailable",
        )
        == 1
    )


def test_a_refused_write_is_held_back_until_a_write_succeeds() -> None:
    broker = Broker({"/": {"q": 50}})
    writer = RecordingWriter(refuse=frozenset({"w"}))
    loop, registry, _ = controller([deploy("w", queues="q")], broker, writer)
    loop.cycle()
    assert value(registry, "qscaler_held_back", workload="w", reason="WriteFailed", **LABELS) == 1
    assert value(registry, "qscaler_replicas_applied", workload="w", **LABELS) is None

    writer.refuse = frozenset()
    loop.cycle()
    assert (
        value(registry, "qscaler_held_back", workload="w", reason="WriteFailed", **LABELS) is None
    )
    assert value(registry, "qscaler_replicas_applied", workload="w", **LABELS) == 5


def test_a_dry_run_process_marks_every_workload_not_only_those_that_would_move() -> None:
    broker = Broker({"/": {"busy": 50, "idle": 0}})
    registry = CollectorRegistry()
    loop = ControlLoop(
        StaticCluster([deploy("busy", queues="busy"), deploy("idle", replicas=0, queues="idle")]),
        broker,
        None,
        OutcomeRecorder(Metrics(registry), dry_run=True),
        clock=lambda: broker.now,
        config=LoopConfig(dry_run=True),
    )
    loop.cycle()
    assert value(registry, "qscaler_dry_run", workload="busy", **LABELS) == 1
    assert value(registry, "qscaler_dry_run", workload="idle", **LABELS) == 1
    assert value(registry, "qscaler_held_back", workload="busy", reason="DryRun", **LABELS) == 1
    assert value(registry, "qscaler_held_back", workload="idle", reason="DryRun", **LABELS) is None


def test_a_dry_run_annotation_marks_its_workload_in_an_active_process() -> None:
    broker = Broker({"/": {"q": 0}})
    workloads = [
        deploy("watched", replicas=0, queues="q", mode="dry-run"),
        deploy("live", 0, queues="q"),
    ]
    loop, registry, _ = controller(workloads, broker, RecordingWriter())
    loop.cycle()
    assert value(registry, "qscaler_dry_run", workload="watched", **LABELS) == 1
    assert value(registry, "qscaler_dry_run", workload="live", **LABELS) == 0
