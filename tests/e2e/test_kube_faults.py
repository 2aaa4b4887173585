"""The fault matrix, Kubernetes side (faults 11-20), on the real control plane.

Each test injects one fault into a real apiserver, controller-manager, Lease
or qscaler process and asserts what docs/reliability.md promises: no workload
is scaled down because of the fault, the others keep scaling, and the fault
shows in metrics or Events.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from prometheus_client import CollectorRegistry

from qscaler.core.actuation import plan
from qscaler.core.binding import ProcessDefaults
from qscaler.core.workload import Hpa, Workload
from qscaler.kube.cache import ClusterCache
from qscaler.kube.client import CountingApiClient
from qscaler.kube.events import KubeEvents
from qscaler.kube.lease import LeaseElector
from qscaler.kube.watch import Reflector
from qscaler.kube.writer import KubeWriter
from qscaler.loop import ControlLoop, LoopConfig
from qscaler.manifests import hpa_from, workload_from
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.sources.management import ManagementSource
from tests.e2e.conftest import ENABLED, QSCALER_NAMESPACE, StartQscaler, consumer_annotations
from tests.harness.faultproxy import TcpFaultProxy
from tests.harness.k8s import ControlPlane, ReplicaHistory, kubeconfig_through, wait_for
from tests.harness.rabbitmq import Broker

#: Kubernetes faults: the broker only feeds a backlog, the same on every version.
pytestmark = [
    pytest.mark.k8s,
    pytest.mark.rabbitmq,
    pytest.mark.slow,
    pytest.mark.rabbitmq_one_version,
]


def admin_api(plane: ControlPlane) -> CountingApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(plane.kubeconfig), client_configuration=configuration)
    return CountingApiClient(configuration)


def patches(process: Any, resource: str = "deployments/scale") -> float:
    return (
        process.metric(
            "qscaler_kubernetes_requests_total", verb="patch", resource=resource, code="200"
        )
        or 0.0
    )


def rises(values: Sequence[int]) -> bool:
    """Each value above the one before: a replica history that never went down."""
    return all(a < b for a, b in pairwise(values))


# --- 11 -------------------------------------------------------------------------


def test_11_apiserver_restart_watch_resumes_and_nothing_is_written_twice(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    broker.declare_queues(vhost, "work")
    control_plane.deployment(
        namespace, "worker", 1, consumer_annotations(vhost, "work", cooldown="1h"), ENABLED
    )
    history = ReplicaHistory(control_plane, namespace, "worker")
    broker.publish_settled(vhost, "work", 30)
    qscaler = start_qscaler()
    wait_for("3 replicas", lambda: control_plane.replicas(namespace, "worker") == 3, timeout=60)
    wait_for("the write counted", lambda: patches(qscaler) == 1)

    control_plane.restart("kube-apiserver", down_seconds=3)
    assert qscaler.metric_sum("qscaler_kubernetes_errors_total", code="0") >= 1, (
        "the outage shows in metrics"
    )
    # Routed at once, yet a statistics sample may still catch part of it, so
    # the rise to 6 may take two steps: each step is one change, one write.
    broker.publish(vhost, "work", 30, atomic=True)
    wait_for(
        "6 replicas after the restart",
        lambda: control_plane.replicas(namespace, "worker") == 6,
        timeout=90,
    )
    wait_for("the watch to see 6", lambda: history.values[-1:] == [6], timeout=30)
    wait_for("every change's write counted", lambda: patches(qscaler) >= len(history.values) - 1)
    time.sleep(3)  # a few more 1-s cycles: any duplicate write would land now
    values = history.stop()
    assert values[:2] == [1, 3], values
    assert values[-1] == 6, values
    assert rises(values), f"nothing lowered: {values}"
    changes = len(values) - 1
    assert patches(qscaler) == changes, "one write per change, none repeated after the restart"

    def scale_ups() -> int:
        series = control_plane.events_by_reason(namespace, "worker").get("ScaleUp", [])
        return sum(e.get("count", 1) for e in series)

    # The first Event may have been written just as the apiserver went down:
    # its create is then held and made on a cycle after the restart.
    wait_for("one ScaleUp Event per change", lambda: scale_ups() >= changes, timeout=30)
    assert scale_ups() == changes


# --- 12 -------------------------------------------------------------------------


def test_12_a_conflicting_hpa_edit_is_replanned_from_a_fresh_read(
    control_plane: ControlPlane, namespace: str
) -> None:
    """The write carries the resourceVersion qscaler saw; after a concurrent edit
    (maxReplicas 8 → 4) the apiserver answers 409 and the writer re-reads,
    re-plans (the floor is clamped to the new max) and writes once more."""
    control_plane.deployment(namespace, "worker", 1, labels=ENABLED)
    control_plane.hpa(namespace, "worker", "worker", min_replicas=1, max_replicas=8)
    stale = hpa_from(control_plane.read_hpa(namespace, "worker"))
    workload = workload_from(control_plane.read_deployment(namespace, "worker"), "Deployment")
    assert stale is not None
    assert workload is not None
    control_plane.autoscaling().patch_namespaced_horizontal_pod_autoscaler(
        "worker",
        namespace,
        {"spec": {"maxReplicas": 4}},
        _content_type="application/merge-patch+json",
    )
    api = admin_api(control_plane)
    KubeWriter(api).apply(workload, stale, plan(6, workload, stale))

    fresh = control_plane.read_hpa(namespace, "worker")
    assert fresh["spec"]["minReplicas"] == 4
    assert fresh["spec"]["maxReplicas"] == 4
    assert fresh["metadata"]["annotations"]["qscaler.io/original-min-replicas"] == "1"
    assert api.counts[("patch", "horizontalpodautoscalers", 409)] == 1
    assert api.counts[("get", "horizontalpodautoscalers", 200)] == 1
    assert api.counts[("patch", "horizontalpodautoscalers", 200)] == 1


# --- 13 -------------------------------------------------------------------------


def _limited_service_account(
    plane: ControlPlane, namespace: str, directory: Path
) -> tuple[Path, str]:
    """A ServiceAccount bound to deploy/'s rules split in two ClusterRoles, so a
    test can take away `patch deployments/scale` alone."""
    rbac = client.RbacAuthorizationV1Api(plane.api())
    rules = plane.kubectl("get", "clusterrole", "qscaler", "-o", "json")
    all_rules = json.loads(rules)["rules"]
    scale_rules = [r for r in all_rules if "deployments/scale" in r.get("resources", [])]
    other_rules = [r for r in all_rules if r not in scale_rules]
    plane.core().create_namespaced_service_account(namespace, {"metadata": {"name": "limited"}})
    subject = [{"kind": "ServiceAccount", "name": "limited", "namespace": namespace}]
    for suffix, role_rules in (("base", other_rules), ("scale", scale_rules)):
        name = f"{namespace}-{suffix}"
        rbac.create_cluster_role({"metadata": {"name": name}, "rules": role_rules})
        rbac.create_cluster_role_binding(
            {
                "metadata": {"name": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": name,
                },
                "subjects": subject,
            }
        )
    rbac.create_namespaced_role_binding(
        QSCALER_NAMESPACE,
        {
            "metadata": {"name": f"{namespace}-lease"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "qscaler-leader-election",
            },
            "subjects": subject,
        },
    )
    return plane.service_account_kubeconfig(namespace, "limited", directory), f"{namespace}-scale"


def _may_patch_scale(plane: ControlPlane, namespace: str) -> bool:
    """Whether the apiserver's authorizer lets the limited ServiceAccount patch
    deployments/scale now.

    Why ask: the authorizer reads RBAC from a cache that follows a deleted
    binding a moment later, and a write in that moment is still allowed."""
    review = client.AuthorizationV1Api(plane.api()).create_subject_access_review(
        {
            "spec": {
                "user": f"system:serviceaccount:{namespace}:limited",
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{namespace}",
                    "system:authenticated",
                ],
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": "patch",
                    "group": "apps",
                    "resource": "deployments",
                    "subresource": "scale",
                },
            }
        }
    )
    return bool(review.status.allowed)


def test_13_rbac_removed_names_the_verb_and_resource_and_the_rest_keeps_working(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
    deployed: str,
    tmp_path: Path,
) -> None:
    broker.declare_queues(vhost, "plain", "floored")
    kubeconfig, scale_binding = _limited_service_account(control_plane, namespace, tmp_path)
    control_plane.deployment(
        namespace, "plain", 1, consumer_annotations(vhost, "plain", cooldown="1h"), ENABLED
    )
    control_plane.deployment(
        namespace, "floored", 1, consumer_annotations(vhost, "floored", cooldown="1h"), ENABLED
    )
    control_plane.hpa(namespace, "floored", "floored", min_replicas=1, max_replicas=10)
    qscaler = start_qscaler(kubeconfig=str(kubeconfig))
    broker.publish(vhost, "plain", 20)
    wait_for(
        "plain scaled to 2 while allowed",
        lambda: control_plane.replicas(namespace, "plain") == 2,
        timeout=60,
    )

    assert _may_patch_scale(control_plane, namespace), "the review sees the grant qscaler used"
    client.RbacAuthorizationV1Api(control_plane.api()).delete_cluster_role_binding(scale_binding)
    wait_for(
        "the authorizer to deny patch deployments/scale",
        lambda: not _may_patch_scale(control_plane, namespace),
        timeout=30,
    )
    broker.publish(vhost, "plain", 40)
    broker.publish(vhost, "floored", 50)
    warning = control_plane.await_events(namespace, "plain", "WriteFailed")[0]
    assert warning["type"] == "Warning"
    assert "may not patch deployments/scale" in warning["message"]
    assert (
        qscaler.metric(
            "qscaler_kubernetes_errors_total",
            verb="patch",
            resource="deployments/scale",
            code="403",
        )
        or 0
    ) >= 1
    wait_for(
        "the HPA floor of the other workload still raised",
        lambda: control_plane.read_hpa(namespace, "floored")["spec"]["minReplicas"] == 5,
        timeout=60,
    )
    assert control_plane.replicas(namespace, "plain") == 2, "nothing lowered"


# --- 14 -------------------------------------------------------------------------


class _ExpiredFirst(Reflector[Workload]):
    """Resumes its first watch from resourceVersion 1, long compacted away."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first = True

    def _list(self) -> str:
        version = super()._list()
        if self.first:
            self.first = False
            return "1"
        return version


def test_14_expired_watch_history_410_triggers_a_relist(
    control_plane: ControlPlane, namespace: str
) -> None:
    control_plane.deployment(namespace, "a", 1, labels=ENABLED)
    apps = client.AppsV1Api(admin_api(control_plane))
    reflector = _ExpiredFirst(
        "deployments",
        lambda **kw: apps.list_namespaced_deployment(
            namespace, label_selector="qscaler.io/enabled=true", **kw
        ),
        lambda obj: workload_from(obj, "Deployment"),
    )
    reflector.start()
    try:
        wait_for("a re-list after 410", lambda: reflector.relists >= 2, timeout=30)
        control_plane.deployment(namespace, "b", 2, labels=ENABLED)
        wait_for(
            "the cache to follow the cluster after the re-list",
            lambda: sorted(w.ref.name for w in reflector.items()) == ["a", "b"],
            timeout=30,
        )
    finally:
        reflector.stop()
    assert reflector.errors == 0, "a 410 is handled by re-listing, not as an error"


# --- 15 -------------------------------------------------------------------------


class _DeletesOnRead:
    """A ClusterView that deletes one workload right after the loop read the cache:
    the decision for it is then in flight for an object that is gone."""

    def __init__(
        self, cache: ClusterCache, plane: ControlPlane, namespace: str, doomed: str
    ) -> None:
        self.cache, self.plane, self.namespace, self.doomed = cache, plane, namespace, doomed

    def workloads(self) -> Sequence[Workload]:
        seen = self.cache.workloads()
        if any(w.ref.name == self.doomed for w in seen):
            self.plane.apps().delete_namespaced_deployment(self.doomed, self.namespace)
        return seen

    def hpas(self) -> Sequence[Hpa]:
        return self.cache.hpas()


def test_15_workload_deleted_while_its_decision_is_in_flight(
    control_plane: ControlPlane, broker: Broker, vhost: str, namespace: str
) -> None:
    broker.declare_queues(vhost, "a", "b")
    for name in ("doomed", "survivor"):
        control_plane.deployment(
            namespace,
            name,
            1,
            consumer_annotations(vhost, "a" if name == "doomed" else "b"),
            ENABLED,
        )
    broker.publish(vhost, "a", 30)
    broker.publish(vhost, "b", 30)
    api = admin_api(control_plane)
    cache = ClusterCache(api, "qscaler.io/enabled=true", [namespace])
    cache.start()
    source = ManagementSource.connect(broker.mgmt_url, broker.user, broker.password)
    registry = CollectorRegistry()
    try:
        assert cache.wait_synced(30)
        wait_for(
            "both queues counted",
            lambda: all((broker.queue(vhost, q) or {}).get("messages") == 30 for q in "ab"),
        )
        loop = ControlLoop(
            _DeletesOnRead(cache, control_plane, namespace, "doomed"),
            source,
            KubeWriter(api),
            OutcomeRecorder(Metrics(registry), KubeEvents(api, "test")),
            clock=time.monotonic,
            config=LoopConfig(defaults=ProcessDefaults()),
        )
        report = loop.cycle()
    finally:
        cache.stop()
        source.close()
    outcome = {o.ref.name: o for o in report.outcomes}
    assert outcome["survivor"].written
    assert control_plane.replicas(namespace, "survivor") == 3
    assert not outcome["doomed"].written
    assert "404" in (outcome["doomed"].error or "")
    assert "doomed" not in {r.name for r in loop.histories}, (
        "the gone workload's history is dropped"
    )
    assert api.counts[("patch", "deployments/scale", 404)] == 1


# --- 16 -------------------------------------------------------------------------


def test_16_hpa_added_and_deleted_while_bound_switches_mode_without_lowering(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    broker.declare_queues(vhost, "work")
    control_plane.deployment(
        namespace, "worker", 1, consumer_annotations(vhost, "work", cooldown="1h"), ENABLED
    )
    history = ReplicaHistory(control_plane, namespace, "worker")
    broker.publish_settled(vhost, "work", 30)
    qscaler = start_qscaler()
    wait_for(
        "3 replicas through the scale subresource",
        lambda: control_plane.replicas(namespace, "worker") == 3,
        timeout=60,
    )

    control_plane.hpa(namespace, "worker", "worker", min_replicas=1, max_replicas=10)
    wait_for(
        "the HPA's floor raised to the queue demand",
        lambda: control_plane.read_hpa(namespace, "worker")["spec"]["minReplicas"] == 3,
        timeout=60,
    )
    scale_writes = patches(qscaler)
    # Routed at once, yet a statistics sample may catch part of a publish:
    # from here on a rise may take two steps.
    broker.publish(vhost, "work", 20, atomic=True)
    wait_for(
        "the floor follows the queue, the HPA controller the floor",
        lambda: control_plane.replicas(namespace, "worker") == 5,
        timeout=60,
    )
    assert patches(qscaler) == scale_writes, "no replicas written while the HPA exists"

    control_plane.autoscaling().delete_namespaced_horizontal_pod_autoscaler("worker", namespace)
    broker.publish(vhost, "work", 20, atomic=True)
    wait_for(
        "7 replicas through the scale subresource again",
        lambda: control_plane.replicas(namespace, "worker") == 7,
        timeout=60,
    )
    wait_for("the watch to see 7", lambda: history.values[-1:] == [7], timeout=30)
    values = history.stop()
    assert values[:2] == [1, 3], values
    assert 5 in values, values
    assert values[-1] == 7, values
    assert rises(values), f"nothing lowered: {values}"


# --- 17, 18, 19: leadership -------------------------------------------------------


def test_17_a_leader_cut_off_from_the_apiserver_stops_writing_before_anyone_takes_over(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
    qscaler_kubeconfig: Path,
    tmp_path: Path,
) -> None:
    """The network between the leader and the apiserver goes silent (a TCP
    proxy stops forwarding). The leader's gate closes renew_deadline after its
    last renewal; the follower needs lease_duration without a change; so the
    leader stops before the follower starts. When the network heals the old
    leader stays a follower and writes nothing."""
    broker.declare_queues(vhost, "work")
    control_plane.deployment(
        namespace, "worker", 1, consumer_annotations(vhost, "work", cooldown="1h"), ENABLED
    )
    # The cut-off leader's gauge drops at its first Lease attempt that ends
    # renew_deadline (4 s) after its last renewal began: by 4 + 1.2 (a retry
    # period with jitter) + 2 (one call: half the renew deadline) = 7.2 s.
    # The follower takes over only after lease_duration (12 s) without a
    # change, about 5 s later. A 6-s lease and a 3-s deadline left 0.3 s,
    # less than a loaded machine can delay a thread.
    timings = {
        "lease_duration_seconds": "12",
        "renew_deadline_seconds": "4",
        "retry_period_seconds": "1",
    }
    api_port = int(control_plane.server.rsplit(":", 1)[1])
    with TcpFaultProxy("127.0.0.1", api_port) as proxy:
        cut_off = start_qscaler(
            "cut-off",
            kubeconfig=str(kubeconfig_through(proxy.port, qscaler_kubeconfig, tmp_path)),
            **timings,
        )
        wait_for(
            "the proxied instance to lead",
            lambda: cut_off.metric("qscaler_leader") == 1,
            timeout=30,
        )
        healthy = start_qscaler("healthy", **timings)
        wait_for(
            "the direct instance to follow",
            lambda: healthy.metric("qscaler_leader") == 0,
            timeout=30,
        )
        broker.publish(vhost, "work", 30)
        wait_for(
            "3 replicas by the leader",
            lambda: control_plane.replicas(namespace, "worker") == 3,
            timeout=60,
        )
        # The Event follows the write: let it land before the cut.
        control_plane.await_events(namespace, "worker", "ScaleUp", timeout=30)

        proxy.freeze()
        cut = time.monotonic()
        stopped = started = None
        while time.monotonic() - cut < 30 and (stopped is None or started is None):
            if stopped is None and cut_off.metric("qscaler_leader") == 0:
                stopped = time.monotonic() - cut
            if started is None and healthy.metric("qscaler_leader") == 1:
                started = time.monotonic() - cut
            time.sleep(0.1)
        assert stopped is not None, "the cut-off leader never stopped leading"
        assert started is not None, "the follower never took over"
        assert stopped < started, (
            f"the cut-off leader stopped at {stopped:.1f}s, the follower led at {started:.1f}s"
        )

        broker.publish(vhost, "work", 30)
        wait_for(
            "6 replicas by the new leader",
            lambda: control_plane.replicas(namespace, "worker") == 6,
            timeout=60,
        )
        proxy.thaw()
        time.sleep(4)  # a few retry periods with the network back
        assert cut_off.metric("qscaler_leader") == 0
        assert healthy.metric("qscaler_leader") == 1

    def writers() -> set[str | None]:
        events = control_plane.events_by_reason(namespace, "worker").get("ScaleUp", [])
        return {e.get("reportingInstance") for e in events}

    wait_for("a ScaleUp Event by each leader", lambda: writers() == {"cut-off", "healthy"})
    by_writer = {
        e.get("reportingInstance"): e
        for e in control_plane.events_by_reason(namespace, "worker")["ScaleUp"]
    }
    assert by_writer["cut-off"].get("count", 1) == 1, "the old leader wrote once, before the cut"


def test_18_two_instances_started_at_once_elect_one_writer(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    broker.declare_queues(vhost, "work")
    control_plane.deployment(
        namespace,
        "worker",
        0,
        consumer_annotations(vhost, "work", min_replicas="0", cooldown="1h"),
        ENABLED,
    )
    timings = {
        "lease_duration_seconds": "6",
        "renew_deadline_seconds": "4",
        "retry_period_seconds": "1",
    }
    broker.publish_settled(vhost, "work", 40)
    started: dict[str, Any] = {}
    threads = [
        threading.Thread(target=lambda n=n: started.__setitem__(n, start_qscaler(n, **timings)))
        for n in ("left", "right")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(
        "one leader",
        lambda: sum(p.metric("qscaler_leader") or 0 for p in started.values()) == 1,
        timeout=30,
    )
    for _ in range(10):
        assert sum(p.metric("qscaler_leader") or 0 for p in started.values()) <= 1
        time.sleep(0.3)
    wait_for("4 replicas", lambda: control_plane.replicas(namespace, "worker") == 4, timeout=60)
    wait_for("the write counted", lambda: sum(patches(p) for p in started.values()) >= 1)
    time.sleep(3)  # a few more 1-s cycles: a second writer's write would land now
    total = sum(patches(p) for p in started.values())
    assert total == 1, f"one change, one write; got {total}"
    writers = {
        e.get("reportingInstance")
        for e in control_plane.await_events(namespace, "worker", "ScaleFromZero")
    }
    assert len(writers) == 1


#: Test 19's Lease: a renewal every 0.5 s, each call at most 3 s (half the
#: renew deadline), so the leader keeps the lease through an apiserver stall of
#: about 5 s. With a 3-s deadline and 1.5-s calls one 2.5-s stall lost it, a
#: failure that has nothing to do with clocks.
JUMP_LEASE_SECONDS = 8


def _elector(
    plane: ControlPlane, name: str, identity: str, wall_offset: list[timedelta]
) -> LeaseElector:
    return LeaseElector(
        admin_api(plane),
        name,
        QSCALER_NAMESPACE,
        identity,
        lease_duration=JUMP_LEASE_SECONDS,
        renew_deadline=6,
        retry_period=0.5,
        wall_clock=lambda: datetime.now(UTC) + wall_offset[0],
    )


def test_19_clock_jumps_on_the_host_change_no_leadership(
    control_plane: ControlPlane, namespace: str
) -> None:
    """Leases are judged on each process's monotonic clock, never by comparing
    wall times across machines: a leader whose wall clock jumps back two hours
    (its renewTime looks ancient) keeps the lease, and a follower whose clock
    jumps forward two hours (every renewTime looks ancient) does not grab it.

    The wall clocks are injected: libfaketime 0.9.10 (Debian 12) makes Python
    3.11's sleep fail with EINVAL, so a whole process cannot be run under it."""
    leader_offset, follower_offset = [timedelta()], [timedelta()]
    leader = _elector(control_plane, f"jump-{namespace}", "leader", leader_offset)
    follower = _elector(control_plane, f"jump-{namespace}", "follower", follower_offset)
    leader.start()
    wait_for("the leader", leader.is_leader, timeout=10)
    follower.start()
    try:
        leader_offset[0] = timedelta(hours=-2)
        follower_offset[0] = timedelta(hours=2)
        deadline = time.monotonic() + 3 * JUMP_LEASE_SECONDS
        while time.monotonic() < deadline:  # three lease durations
            assert leader.is_leader()
            assert not follower.is_leader()
            time.sleep(0.5)
    finally:
        follower.stop()
        leader.stop()


# --- 20 -------------------------------------------------------------------------


def test_20_killed_mid_flight_and_restarted_picks_up_without_a_burst(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    """After a crash the new process reads the cluster and holds what it finds
    for a full cooldown: the queue drained while it was down, yet nothing is
    lowered until the stabilization window has passed."""
    broker.declare_queues(vhost, "work")
    control_plane.deployment(
        namespace, "worker", 1, consumer_annotations(vhost, "work", cooldown="15s"), ENABLED
    )
    first = start_qscaler("first")
    broker.publish(vhost, "work", 50)
    wait_for("5 replicas", lambda: control_plane.replicas(namespace, "worker") == 5, timeout=60)
    first.stop(signal.SIGKILL)
    assert broker.consume(vhost, "work", 50) == 50

    second = start_qscaler("second")
    restarted = time.monotonic()
    wait_for("the new process to lead", lambda: second.metric("qscaler_leader") == 1, timeout=30)
    held = wait_for(
        "a Stabilizing decision on the drained queue",
        lambda: second.metric(
            "qscaler_held_back",
            namespace=namespace,
            workload="worker",
            kind="Deployment",
            reason="Stabilizing",
        ),
        timeout=30,
    )
    assert held == 1
    assert patches(second) == 0
    assert control_plane.replicas(namespace, "worker") == 5
    wait_for(
        "the scale-down after the cooldown",
        lambda: control_plane.replicas(namespace, "worker") == 1,
        timeout=60,
    )
    assert time.monotonic() - restarted >= 15 - 1, "not before the cooldown"
    # The counter is raised when the apiserver's answer is back in qscaler,
    # which can be after this test saw the new count.
    wait_for("the write counted", lambda: patches(second) >= 1)
    time.sleep(2)  # two more 1-s cycles: a repeated write would land now
    assert patches(second) == 1, "one write for the one change"
