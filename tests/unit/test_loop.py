"""The control loop with in-memory adapters of qscaler's own protocols.

These are not fakes of RabbitMQ or Kubernetes (those are tested for real in
tests/integration and tests/e2e); they stand behind the loop's seams so that
failure isolation and reporting can be checked exactly, with the real
OutcomeRecorder, Metrics and status document.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry

from qscaler.bindings_file import StaticCluster
from qscaler.core.actuation import Plan
from qscaler.core.model import QueueStats, VhostSnapshot
from qscaler.core.reasons import Hold, Reason
from qscaler.core.workload import Hpa, Workload, WorkloadRef
from qscaler.errors import SourceUnavailable
from qscaler.loop import ControlLoop, LoopConfig
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.record.status import render_table, status_document
from qscaler.sources import VhostRequest
from tests.harness.memory import RecordingWriter


class Broker:
    """Serves fixed queue depths per vhost; a vhost listed in `down` fails."""

    def __init__(
        self, depths: Mapping[str, Mapping[str, int]], down: frozenset[str] = frozenset()
    ) -> None:
        self.depths = depths
        self.down = down
        self.now = 100.0
        self.requests: list[VhostRequest] = []

    def read(self, request: VhostRequest) -> VhostSnapshot:
        self.requests.append(request)
        if request.vhost in self.down:
            raise SourceUnavailable(f"vhost {request.vhost}: connection refused")
        queues = {n: QueueStats(n, d, 0, 1) for n, d in self.depths.get(request.vhost, {}).items()}
        return VhostSnapshot(
            request.vhost, queues, self.now, frozenset(request.names - set(queues))
        )

    def close(self) -> None:
        pass


def deploy(name: str, replicas: int = 1, **annotations: str) -> Workload:
    base = {
        "qscaler.io/messages-per-replica": "10",
        "qscaler.io/min-replicas": "0",
        "qscaler.io/max-replicas": "20",
    }
    base.update({f"qscaler.io/{k.replace('_', '-')}": v for k, v in annotations.items()})
    return Workload(WorkloadRef("apps", name), replicas, replicas, base)


def controller(
    workloads: list[Workload],
    broker: Broker,
    writer: RecordingWriter,
    hpas: list[Hpa] | None = None,
    dry_run: bool = False,
) -> tuple[ControlLoop, CollectorRegistry, OutcomeRecorder]:
    registry = CollectorRegistry()
    reporter = OutcomeRecorder(Metrics(registry), wall_clock=lambda: 1_700_000_000.0)
    loop = ControlLoop(
        StaticCluster(workloads, hpas or []),
        broker,
        writer,
        reporter,
        clock=lambda: broker.now,
        config=LoopConfig(dry_run=dry_run),
    )
    return loop, registry, reporter


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_one_poll_per_vhost_covers_every_binding() -> None:
    broker = Broker({"/": {"a": 50, "b": 30, "jobs-1": 5, "jobs-2": 5}, "v2": {"c": 10}})
    loop, _, _ = controller(
        [
            deploy("a", queues="a"),
            deploy("b", queues="a,b"),
            deploy("j", queues="re:^jobs-"),
            deploy("c", queues="c", vhost="v2"),
        ],
        broker,
        RecordingWriter(),
    )
    loop.cycle()
    assert sorted((r.vhost, sorted(r.names), r.listing) for r in broker.requests) == [
        ("/", ["a", "b"], True),
        ("v2", ["c"], False),
    ]


def test_bad_binding_failed_vhost_and_refused_write_each_affect_only_their_workload() -> None:
    broker = Broker({"/": {"ok": 55, "forbidden": 55}, "down": {}}, down=frozenset({"down"}))
    writer = RecordingWriter(refuse=frozenset({"forbidden"}))
    workloads = [
        deploy("ok", queues="ok"),
        deploy("typo", queues="ok", max_replicas="lots"),
        deploy("outage", replicas=4, queues="q", vhost="down"),
        deploy("forbidden", queues="forbidden"),
    ]
    loop, registry, reporter = controller(workloads, broker, writer)
    report = loop.cycle()
    by_name = {o.ref.name: o for o in report.outcomes}

    assert writer.writes == [("ok", Plan(applied=6, desired=6, replicas=6))]
    assert by_name["typo"].policy is None
    assert 'qscaler.io/max-replicas "lots" is not a whole number' in (by_name["typo"].error or "")
    assert by_name["outage"].decision is not None
    assert (by_name["outage"].decision.desired, by_name["outage"].decision.reason.value) == (
        4,
        "SourceError",
    )
    assert by_name["forbidden"].reason is not None
    assert by_name["forbidden"].reason.value == "WriteFailed"
    assert "may not patch deployments/scale" in (by_name["forbidden"].error or "")

    labels = {"namespace": "apps", "kind": "Deployment"}
    assert value(registry, "qscaler_binding_valid", workload="typo", **labels) == 0
    assert value(registry, "qscaler_invalid_bindings") == 1
    assert value(registry, "qscaler_replicas_applied", workload="ok", **labels) == 6
    assert value(registry, "qscaler_replicas_applied", workload="forbidden", **labels) is None
    assert (
        value(registry, "qscaler_held_back", workload="outage", reason="SourceError", **labels) == 1
    )
    assert (
        value(
            registry,
            "qscaler_source_errors_total",
            broker="default",
            vhost="down",
            kind="unavailable",
        )
        == 1
    )
    assert (
        value(
            registry,
            "qscaler_decisions_total",
            workload="ok",
            direction="up",
            reason="ScaleUp",
            **labels,
        )
        == 1
    )
    assert value(registry, "qscaler_queue_messages", workload="ok", state="ready", **labels) == 55
    assert (
        value(
            registry, "qscaler_last_successful_poll_timestamp_seconds", broker="default", vhost="/"
        )
        == 1_700_000_000.0
    )

    table = render_table(status_document(reporter.last_report))
    assert "apps/ok" in table
    assert "1 → 6" in table
    assert "apps/typo: invalid binding" not in table  # errors are listed by their own text
    assert 'qscaler.io/max-replicas "lots"' in table


def test_dry_run_decides_and_reports_but_never_writes() -> None:
    writer = RecordingWriter()
    loop, registry, _ = controller(
        [deploy("w", queues="q")], Broker({"/": {"q": 100}}), writer, dry_run=True
    )
    report = loop.cycle()
    assert writer.writes == []
    assert report.outcomes[0].held is Hold.DRY_RUN
    labels = {"namespace": "apps", "workload": "w", "kind": "Deployment"}
    assert value(registry, "qscaler_replicas_desired", **labels) == 10
    assert value(registry, "qscaler_dry_run", **labels) == 1
    assert value(registry, "qscaler_held_back", reason="DryRun", **labels) == 1
    assert value(registry, "qscaler_replicas_applied", **labels) is None
    (entry,) = status_document(report)["workloads"]
    # One vocabulary: /status says what the metric says.
    assert (entry["held"], entry["planned"], entry["applied"]) == ("DryRun", 10, None)


def test_a_follower_neither_polls_nor_writes() -> None:
    class Follower:
        def is_leader(self) -> bool:
            return False

    broker, writer = Broker({"/": {"q": 100}}), RecordingWriter()
    loop, registry, _ = controller([deploy("w", queues="q")], broker, writer)
    loop.leadership = Follower()
    report = loop.cycle()
    assert (broker.requests, writer.writes, report.leader) == ([], [], False)
    assert value(registry, "qscaler_leader") == 0


def test_hpa_floor_is_raised_and_restored_when_the_workload_opts_out() -> None:
    hpa = Hpa("apps", "w-hpa", WorkloadRef("apps", "w"), min_replicas=2, max_replicas=8)
    writer = RecordingWriter()
    loop, _, _ = controller(
        [deploy("w", replicas=3, queues="q")], Broker({"/": {"q": 50}}), writer, hpas=[hpa]
    )
    loop.cycle()
    assert writer.writes == [("w", Plan(applied=5, desired=5, hpa_floor=5, hpa_original=2))]

    raised = Hpa("apps", "w-hpa", WorkloadRef("apps", "w"), 5, 8, original_min=2)
    writer.writes.clear()
    loop.cluster = StaticCluster([], [raised])
    loop.cycle()
    assert writer.writes == [("release w-hpa", Plan(applied=2, desired=2, restore_hpa=True))]


def test_departed_workloads_lose_their_series_and_history() -> None:
    broker = Broker({"/": {"q": 30}})
    loop, registry, _ = controller([deploy("w", queues="q")], broker, RecordingWriter())
    loop.cycle()
    labels = {"namespace": "apps", "workload": "w", "kind": "Deployment"}
    assert value(registry, "qscaler_replicas_desired", **labels) == 3
    loop.cluster = StaticCluster([])
    loop.cycle()
    assert value(registry, "qscaler_replicas_desired", **labels) is None
    assert loop.histories == {}


def test_a_departed_pattern_binding_drops_its_cached_matches() -> None:
    broker = Broker({"/": {"jobs-1": 5, "mail-1": 5}})
    jobs, mail = deploy("j", queues="re:^jobs-"), deploy("m", queues="re:^mail-")
    loop, _, _ = controller([jobs, mail], broker, RecordingWriter())
    loop.cycle()
    assert len(loop.reader.matcher("default")) == 2
    loop.cluster = StaticCluster([mail])
    loop.cycle()
    assert len(loop.reader.matcher("default")) == 1


def test_a_write_the_cache_has_not_seen_yet_is_not_repeated() -> None:
    """While the watch lags (an apiserver restart), the same decision must not
    be written again every cycle; a new decision is."""
    broker, writer = Broker({"/": {"q": 50}}), RecordingWriter()
    stale = deploy("w", replicas=1, queues="q")
    loop, _, _ = controller([stale], broker, writer)
    loop.cycle()
    loop.cycle()
    assert writer.writes == [("w", Plan(applied=5, desired=5, replicas=5))]

    broker.depths = {"/": {"q": 80}}
    loop.cycle()
    assert writer.writes[-1] == ("w", Plan(applied=8, desired=8, replicas=8))

    caught_up = Workload(stale.ref, 8, 8, stale.annotations, resource_version="2")
    loop.cluster = StaticCluster([caught_up])
    loop.cycle()
    assert len(writer.writes) == 2


def test_two_hpas_on_one_workload_hold_it_and_say_why() -> None:
    """The HPA controller runs neither HPA (AmbiguousSelector): a floor would
    change nothing, so qscaler writes nothing there and reports it, while
    other workloads keep scaling."""
    target = WorkloadRef("apps", "w")
    hpas = [Hpa("apps", "a", target, 1, 8), Hpa("apps", "b", target, 1, 8)]
    writer = RecordingWriter()
    loop, registry, _ = controller(
        [deploy("w", queues="q"), deploy("v", queues="q")],
        Broker({"/": {"q": 50}}),
        writer,
        hpas=hpas,
    )
    report = loop.cycle()
    assert [name for name, _ in writer.writes] == ["v"]
    held = next(o for o in report.outcomes if o.ref == target)
    assert held.reason is Reason.INVALID_BINDING
    assert "HPAs a, b all target this Deployment" in (held.error or "")
    labels = {"namespace": "apps", "workload": "w", "kind": "Deployment"}
    assert value(registry, "qscaler_binding_valid", **labels) == 0
