"""Losing the Lease in the middle of a write, and Event counts, on the real control plane.

A write is gated twice: the loop asks whether it leads before planning, and
the writer asks again right before each API call. Between the two a write
can stall (a GC pause, a slow apiserver) past the renew deadline; the writer
then raises `NotLeader` and must be reported as a held write, not as an
internal error, whether it was a scale or the restore of an orphaned HPA.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kubernetes import client
from prometheus_client import CollectorRegistry

from qscaler.core.actuation import Plan
from qscaler.core.annotations import ORIGINAL_MIN_REPLICAS
from qscaler.core.reasons import Hold
from qscaler.core.workload import Hpa, Workload
from qscaler.kube.cache import ClusterCache
from qscaler.kube.events import RETRY_SECONDS, KubeEvents
from qscaler.kube.lease import LeaseElector
from qscaler.kube.writer import KubeWriter
from qscaler.loop import ControlLoop
from qscaler.manifests import workload_from
from qscaler.outcome import CycleReport
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.sources.management import ManagementSource
from tests.e2e.conftest import ENABLED, consumer_annotations
from tests.harness.faultproxy import TcpFaultProxy
from tests.harness.k8s import ControlPlane, api_client, kubeconfig_through, wait_for
from tests.harness.rabbitmq import Broker

pytestmark = [pytest.mark.k8s, pytest.mark.rabbitmq]

RENEW_DEADLINE = 10.0


class ManualClock:
    """The elector's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class StallsBeforeWriting:
    """The real KubeWriter, reached only after the renew deadline has passed."""

    def __init__(self, writer: KubeWriter, clock: ManualClock) -> None:
        self.writer, self.clock = writer, clock

    def apply(self, workload: Workload, hpa: Hpa | None, plan: Plan) -> None:
        self.clock.now += RENEW_DEADLINE + 1
        self.writer.apply(workload, hpa, plan)

    def release(self, hpa: Hpa, plan: Plan) -> None:
        self.clock.now += RENEW_DEADLINE + 1
        self.writer.release(hpa, plan)


def leader(api: client.ApiClient, namespace: str, clock: ManualClock) -> LeaseElector:
    """An elector that holds the test's Lease on the real apiserver."""
    elector = LeaseElector(
        api,
        "qscaler",
        namespace,
        "test",
        renew_deadline=RENEW_DEADLINE,
        clock=clock,
    )
    assert elector.try_once()
    return elector


def one_cycle(
    plane: ControlPlane, broker: Broker, namespace: str
) -> tuple[CycleReport, OutcomeRecorder, CollectorRegistry]:
    """One loop cycle whose every write stalls past the Lease's renew deadline."""
    api, clock = plane.api(), ManualClock()
    elector = leader(api, namespace, clock)
    cache = ClusterCache(api, "qscaler.io/enabled=true", [namespace])
    source = ManagementSource.connect(broker.mgmt_url, broker.user, broker.password)
    registry = CollectorRegistry()
    recorder = OutcomeRecorder(Metrics(registry), KubeEvents(api, "test"))
    cache.start()
    try:
        assert cache.wait_synced(30)
        loop = ControlLoop(
            cache,
            source,
            StallsBeforeWriting(KubeWriter(api, may_write=elector.is_leader), clock),
            recorder,
            clock=time.monotonic,
            leadership=elector,
        )
        report = loop.cycle()
    finally:
        cache.stop()
        source.close()
    return report, recorder, registry


def test_a_scale_whose_lease_is_lost_before_the_write_is_held_not_leader(
    control_plane: ControlPlane, broker: Broker, vhost: str, namespace: str
) -> None:
    broker.declare_queues(vhost, "a")
    control_plane.deployment(namespace, "worker", 1, consumer_annotations(vhost, "a"), ENABLED)
    broker.publish(vhost, "a", 30)
    wait_for("30 messages counted", lambda: (broker.queue(vhost, "a") or {}).get("messages") == 30)

    report, recorder, registry = one_cycle(control_plane, broker, namespace)

    (outcome,) = report.outcomes
    assert outcome.decision is not None
    assert outcome.decision.desired == 3
    assert (outcome.written, outcome.held, outcome.error) == (False, Hold.NOT_LEADER, None)
    assert outcome.reason == outcome.decision.reason == "ScaleUp"
    assert recorder.last_report is report
    assert control_plane.replicas(namespace, "worker") == 1
    labels = {"namespace": namespace, "workload": "worker", "kind": "Deployment"}
    assert registry.get_sample_value("qscaler_held_back", {**labels, "reason": "NotLeader"}) == 1
    assert "InternalError" not in control_plane.events_by_reason(namespace, "worker")


def test_an_orphaned_hpa_whose_lease_is_lost_before_the_restore_keeps_the_cycle(
    control_plane: ControlPlane, broker: Broker, namespace: str
) -> None:
    control_plane.deployment(namespace, "former", 4)
    control_plane.hpa(namespace, "former", "former", min_replicas=1, max_replicas=8)
    control_plane.autoscaling().patch_namespaced_horizontal_pod_autoscaler(
        "former",
        namespace,
        {"metadata": {"annotations": {ORIGINAL_MIN_REPLICAS: "1"}}, "spec": {"minReplicas": 4}},
        _content_type="application/merge-patch+json",
    )

    report, recorder, _ = one_cycle(control_plane, broker, namespace)

    assert report.leader
    assert report.outcomes == ()
    assert recorder.last_report is report, "the cycle was recorded"
    assert control_plane.read_hpa(namespace, "former")["spec"]["minReplicas"] == 4


def test_repeats_held_back_within_the_repeat_period_are_counted_when_it_ends(
    control_plane: ControlPlane, namespace: str
) -> None:
    """A problem seen three times within one repeat period, then gone: the
    Event must say 3 once the period is over, not the 1 it was created with."""
    control_plane.deployment(namespace, "worker", 1)
    deployment = control_plane.read_deployment(namespace, "worker")
    workload = workload_from(deployment, "Deployment")
    assert workload is not None
    clock = ManualClock()
    events = KubeEvents(
        control_plane.api(),
        "test",
        repeat_seconds=60,
        clock=clock,
        wall_clock=lambda: datetime.now(UTC),
    )
    for _ in range(3):
        events.emit(workload, "Warning", "SourceStale", "queue data is old")
        clock.now += 1
    recorder = OutcomeRecorder(Metrics(CollectorRegistry()), events)
    recorder.cycle(CycleReport(0.0, 1.0, leader=True))  # within the period: nothing more yet
    assert _count(control_plane, namespace) == 1
    clock.now += 60
    recorder.cycle(CycleReport(60.0, 61.0, leader=True))  # the problem is gone; the period ended
    wait_for("the Event counts 3", lambda: _count(control_plane, namespace) == 3)


def _count(plane: ControlPlane, namespace: str) -> int:
    (event,) = plane.events_by_reason(namespace, "worker")["SourceStale"]
    count: int = event["count"]
    return count


# --- Event creates that fail while the apiserver is away -------------------------


def events_through(
    plane: ControlPlane, proxy: TcpFaultProxy, directory: Path, clock: ManualClock
) -> KubeEvents:
    """KubeEvents whose apiserver connection runs through `proxy`."""
    kubeconfig = kubeconfig_through(proxy.port, plane.kubeconfig, directory)
    return KubeEvents(api_client(kubeconfig), "test", clock=clock)


def a_deployment(plane: ControlPlane, namespace: str, name: str) -> Workload:
    plane.deployment(namespace, name, 1)
    workload = workload_from(plane.read_deployment(namespace, name), "Deployment")
    assert workload is not None
    return workload


def cut(proxy: TcpFaultProxy) -> None:
    """The apiserver becomes unreachable: new connections refused, open ones reset."""
    proxy.refuse()
    proxy.drop_all()


def test_a_scale_event_written_while_the_apiserver_is_away_is_created_when_it_returns(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The 1 → 3 ScaleUp of fault 11: written just as the apiserver went down.
    The create is held, its repeat counted on it, and the next flush after the
    apiserver is back creates it with the count. One failed retry ends a
    flush's retries, so three held Events cost one failed create per flush."""
    workloads = [a_deployment(control_plane, namespace, f"worker-{i}") for i in range(3)]
    api_port = int(control_plane.server.rsplit(":", 1)[1])
    clock = ManualClock()
    with TcpFaultProxy("127.0.0.1", api_port) as proxy:
        events = events_through(control_plane, proxy, tmp_path, clock)
        cut(proxy)
        for workload in workloads:
            events.emit(workload, "Normal", "ScaleUp", "1 → 3: 30 ready")
        events.emit(workloads[0], "Normal", "ScaleUp", "1 → 3: 30 ready")
        caplog.clear()
        events.flush()
        retries = [r for r in caplog.records if "will retry" in r.getMessage()]
        assert len(retries) == 1, "an unreachable apiserver stops the flush at the first failure"
        assert control_plane.events_by_reason(namespace, "worker-0").get("ScaleUp", []) == []

        proxy.accept()
        clock.now += 10
        events.flush()
    counts = [
        [e["count"] for e in control_plane.events_by_reason(namespace, w.ref.name)["ScaleUp"]]
        for w in workloads
    ]
    assert counts == [[2], [1], [1]], "each held Event created once, with its repeats"


def test_a_held_event_is_given_up_after_the_retry_period(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Retrying forever would grow memory and replay old news: after
    RETRY_SECONDS the create is given up, and a returning apiserver gets nothing."""
    workload = a_deployment(control_plane, namespace, "worker")
    api_port = int(control_plane.server.rsplit(":", 1)[1])
    clock = ManualClock()
    with TcpFaultProxy("127.0.0.1", api_port) as proxy:
        events = events_through(control_plane, proxy, tmp_path, clock)
        cut(proxy)
        events.emit(workload, "Normal", "ScaleUp", "1 → 3: 30 ready")
        clock.now += RETRY_SECONDS
        events.flush()
        assert any("given up" in r.getMessage() for r in caplog.records)
        proxy.accept()
        events.flush()
    assert control_plane.events_by_reason(namespace, "worker").get("ScaleUp", []) == []


def test_an_event_the_apiserver_refuses_for_good_is_not_retried(
    control_plane: ControlPlane, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A 404 (its namespace is gone) will not pass by itself: given up at once."""
    workload = a_deployment(control_plane, namespace, "worker")
    gone = replace(workload, ref=replace(workload.ref, namespace="no-such-namespace"))
    events = KubeEvents(control_plane.api(), "test", clock=ManualClock())
    events.emit(gone, "Normal", "ScaleUp", "1 → 3: 30 ready")
    assert [r.getMessage() for r in caplog.records if "Event" in r.getMessage()] == [
        "could not record Event ScaleUp on no-such-namespace/worker: HTTP 404; given up"
    ]
    caplog.clear()
    events.flush()
    assert not [r for r in caplog.records if "Event" in r.getMessage()]
