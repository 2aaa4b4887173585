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

import pytest
from prometheus_client import CollectorRegistry

from qscaler.bindings_file import StaticCluster
from qscaler.core.reasons import Reason
from qscaler.loop import ControlLoop, LoopConfig
from qscaler.outcome import Outcome
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.record.workload_gauges import WorkloadGauges
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


def test_data_it_distrusts_keeps_the_last_trustworthy_queue_view() -> None:
    """A vhost that cannot be read shows the queues as last seen, not zeros,
    beside this cycle's decision; the view goes when the workload does."""
    broker = Broker({"/": {"q": 30}})
    loop, registry, _ = controller([deploy("w", replicas=3, queues="q")], broker, RecordingWriter())
    loop.cycle()
    broker.down = frozenset({"/"})
    broker.now += 5
    report = loop.cycle()
    assert report.outcomes[0].reason is Reason.SOURCE_ERROR
    w = {"workload": "w", **LABELS}
    assert value(registry, "qscaler_queue_messages", state="ready", **w) == 30
    assert value(registry, "qscaler_backlog_messages", **w) == 30
    assert value(registry, "qscaler_queues_matched", **w) == 1
    assert value(registry, "qscaler_replicas_desired", **w) == 3
    assert value(registry, "qscaler_held_back", reason="SourceError", **w) == 1

    loop.cluster = StaticCluster([])
    loop.cycle()
    assert value(registry, "qscaler_queue_messages", state="ready", **w) is None


def test_a_scrape_during_a_cycle_shows_the_whole_previous_cycle() -> None:
    """Per-workload gauges come from the last finished cycle: a scrape never
    mixes the workloads a cycle has reached with the rest of the previous one."""
    broker = Broker({"/": {"q": 30}})
    workloads = [deploy("a", replicas=3, queues="q"), deploy("b", replicas=3, queues="q")]
    loop, registry, recorder = controller(workloads, broker, RecordingWriter())
    loop.cycle()
    seen: list[float | None] = []
    recorded = recorder.outcome

    def scrape_then_record(outcome: Outcome) -> None:
        if outcome.ref.name == "b":
            seen.append(value(registry, "qscaler_replicas_desired", workload="a", **LABELS))
        recorded(outcome)

    recorder.outcome = scrape_then_record  # type: ignore[method-assign]
    broker.depths = {"/": {"q": 80}}
    loop.cycle()
    assert seen == [3]  # "a" was already decided at 8, but its cycle was not over
    assert value(registry, "qscaler_replicas_desired", workload="a", **LABELS) == 8


def test_a_departed_workload_loses_its_decision_counters_and_others_keep_theirs() -> None:
    broker = Broker({"/": {"q": 30}})
    workloads = [deploy("gone", queues="q"), deploy("kept", queues="q")]
    loop, registry, _ = controller(workloads, broker, RecordingWriter())
    loop.cycle()
    counted = {"direction": "up", "reason": "ScaleUp", **LABELS}
    assert value(registry, "qscaler_decisions_total", workload="gone", **counted) == 1
    loop.cluster = StaticCluster([workloads[1]])
    loop.cycle()
    assert value(registry, "qscaler_decisions_total", workload="gone", **counted) is None
    assert value(registry, "qscaler_decisions_total", workload="kept", **counted) == 1


def test_a_binding_that_turns_invalid_shows_no_decision_of_its_valid_days() -> None:
    broker = Broker({"/": {"q": 30}})
    loop, registry, _ = controller([deploy("w", queues="q")], broker, RecordingWriter())
    loop.cycle()
    w = {"workload": "w", **LABELS}
    assert value(registry, "qscaler_replicas_max", **w) == 20
    loop.cluster = StaticCluster([deploy("w", replicas=3, queues="q", max_replicas="lots")])
    loop.cycle()
    assert value(registry, "qscaler_binding_valid", **w) == 0
    assert value(registry, "qscaler_replicas_spec", **w) == 3
    for gone in ("qscaler_replicas_desired", "qscaler_replicas_applied", "qscaler_replicas_max"):
        assert value(registry, gone, **w) is None, gone
    assert value(registry, "qscaler_dry_run", **w) is None


def test_the_workload_gauges_cannot_be_registered_twice() -> None:
    """The collector names its families, so a second one on the registry is refused."""
    registry = CollectorRegistry()
    Metrics(registry)
    with pytest.raises(ValueError, match="qscaler_replicas_desired"):
        registry.register(WorkloadGauges())
