"""qscaler next to an HPA when something is wrong: no CPU metrics, no CPU
requests, two HPAs, an autoscaling/v1 HPA, and a person editing the floor.

Real control plane (HPA controller, metrics-server through the aggregation
layer), real broker, real `qscaler run` under deploy/'s RBAC.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.e2e.conftest import ENABLED, StartQscaler, consumer_annotations
from tests.harness.cpu import CpuLoad, cpu_deployment, cpu_hpa
from tests.harness.k8s import ControlPlane, wait_for
from tests.harness.rabbitmq import Broker

pytestmark = [
    pytest.mark.k8s,
    pytest.mark.rabbitmq,
    pytest.mark.slow,
    pytest.mark.rabbitmq_versions("3.10.8"),  # the HPA's side does not depend on the broker
]

ORIGINAL = "qscaler.io/original-min-replicas"
MERGE_PATCH = "application/merge-patch+json"


def _hpa(plane: ControlPlane, namespace: str, name: str = "worker") -> dict[str, Any]:
    return plane.read_hpa(namespace, name)


def _min(plane: ControlPlane, namespace: str) -> int:
    return int(_hpa(plane, namespace)["spec"]["minReplicas"])


def _annotations(plane: ControlPlane, namespace: str) -> dict[str, str]:
    return dict(_hpa(plane, namespace)["metadata"].get("annotations") or {})


def _condition(
    plane: ControlPlane, namespace: str, kind: str, name: str = "worker"
) -> dict[str, Any]:
    for condition in (_hpa(plane, namespace, name).get("status") or {}).get("conditions") or []:
        if condition["type"] == kind:
            return dict(condition)
    return {}


def _set_min(plane: ControlPlane, namespace: str, value: int) -> None:
    """What a person does with `kubectl edit hpa`: change minReplicas only."""
    plane.autoscaling().patch_namespaced_horizontal_pod_autoscaler(
        "worker", namespace, {"spec": {"minReplicas": value}}, _content_type=MERGE_PATCH
    )


def _bound(plane: ControlPlane, broker: Broker, vhost: str, namespace: str, **kw: Any) -> None:
    broker.declare_queues(vhost, "work")
    annotations = consumer_annotations(vhost, "work", min_replicas="1", max_replicas="10")
    cpu_deployment(plane, namespace, "worker", 1, annotations, ENABLED, **kw)


def test_a_person_editing_min_replicas_keeps_their_value(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    """The rule: a minReplicas that is not the floor qscaler wrote is the
    owner's new original. qscaler holds max(it, queue demand), restores it
    (not the old original) when the queue falls, and never lowers it."""
    _bound(control_plane, broker, vhost, namespace)
    cpu_hpa(control_plane, namespace, "worker", "worker", 1, 10)
    qscaler = start_qscaler()
    broker.publish(vhost, "work", 60)
    wait_for("the floor raised to 6", lambda: _min(control_plane, namespace) == 6)

    _set_min(control_plane, namespace, 3)  # below the queue's demand
    wait_for(
        "the floor held at 6 over the person's 3",
        lambda: (
            _min(control_plane, namespace) == 6
            and _annotations(control_plane, namespace).get(ORIGINAL) == "3"
        ),
    )
    assert broker.consume(vhost, "work", 60) == 60
    wait_for(
        "the person's 3 restored, not the old 1",
        lambda: (
            _min(control_plane, namespace) == 3
            and ORIGINAL not in _annotations(control_plane, namespace)
        ),
    )

    broker.publish(vhost, "work", 50)
    wait_for("the floor raised to 5", lambda: _min(control_plane, namespace) == 5)
    _set_min(control_plane, namespace, 8)  # above the queue's demand
    wait_for(
        "qscaler to hand the HPA back at the person's 8",
        lambda: (
            not any(k.startswith("qscaler.io/") for k in _annotations(control_plane, namespace))
        ),
    )
    labels = {"namespace": namespace, "workload": "worker", "kind": "Deployment"}
    wait_for(
        "qscaler to see 8 as the count it holds",
        lambda: qscaler.metric("qscaler_replicas_current", **labels) == 8,
    )
    assert _min(control_plane, namespace) == 8
    wait_for("the HPA to run 8", lambda: control_plane.replicas(namespace, "worker") == 8)


def test_without_cpu_requests_the_hpa_cannot_size_but_the_floor_works(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    """Pods without a CPU request: the HPA reports FailedGetResourceMetric and
    does not scale on CPU; qscaler's floor still moves the count both ways."""
    _bound(control_plane, broker, vhost, namespace, cpu_request=None)
    cpu_hpa(control_plane, namespace, "worker", "worker", 1, 10)
    start_qscaler()
    broker.publish(vhost, "work", 40)
    wait_for("4 replicas from the floor", lambda: control_plane.replicas(namespace, "worker") == 4)
    # Until the new pods are scraped the message is "no metrics returned";
    # once they are, the HPA names the missing request.
    wait_for(
        "the HPA to say it has no CPU request to compute from",
        lambda: (
            (c := _condition(control_plane, namespace, "ScalingActive")).get("reason")
            == "FailedGetResourceMetric"
            and "missing request for cpu" in c.get("message", "")
        ),
        timeout=120,
    )
    assert _min(control_plane, namespace) == 4


def test_metrics_server_down_the_floor_still_holds(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    """Without the metrics API the HPA cannot read CPU and keeps its count; below
    its minReplicas it still scales up, so qscaler's floor works throughout."""
    _bound(control_plane, broker, vhost, namespace)
    cpu_hpa(control_plane, namespace, "worker", "worker", 1, 10)
    load = CpuLoad(control_plane, namespace, "worker", millicores=1400)  # CPU wants 3
    start_qscaler()
    try:
        wait_for("CPU to run 3", lambda: control_plane.replicas(namespace, "worker") == 3, 180)
        argv = control_plane.stop_component("metrics-server")
        try:
            wait_for(
                "the HPA to lose its CPU metric",
                lambda: (
                    _condition(control_plane, namespace, "ScalingActive").get("reason")
                    == "FailedGetResourceMetric"
                ),
                timeout=120,
            )
            broker.publish(vhost, "work", 60)
            wait_for("6 from the floor", lambda: control_plane.replicas(namespace, "worker") == 6)
        finally:
            control_plane.start_component("metrics-server", argv)
            control_plane.kubectl(
                "wait", "--for=condition=Available", "--timeout=120s",
                "apiservice/v1beta1.metrics.k8s.io",
            )  # fmt: skip
        wait_for(
            "the HPA to read CPU again",
            lambda: (
                _condition(control_plane, namespace, "ScalingActive").get("reason")
                == "ValidMetricFound"
            ),
            timeout=180,
        )
        assert control_plane.replicas(namespace, "worker") == 6
    finally:
        load.stop()


def test_two_hpas_on_one_workload_hold_it_with_a_warning(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    """The HPA controller disables both (AmbiguousSelector); qscaler writes no
    floor and says why on the workload, until one HPA is deleted."""
    _bound(control_plane, broker, vhost, namespace)
    cpu_hpa(control_plane, namespace, "worker", "worker", 1, 10)
    cpu_hpa(control_plane, namespace, "worker-b", "worker", 1, 10)
    start_qscaler()
    broker.publish(vhost, "work", 40)
    warning = control_plane.await_events(namespace, "worker", "InvalidBinding")
    assert "HPAs worker, worker-b all target this Deployment" in warning[0]["message"]
    wait_for(
        "the HPA controller to refuse both",
        lambda: all(
            _condition(control_plane, namespace, "ScalingActive", name).get("reason")
            == "AmbiguousSelector"
            for name in ("worker", "worker-b")
        ),
        timeout=60,
    )
    assert _min(control_plane, namespace) == 1
    control_plane.autoscaling().delete_namespaced_horizontal_pod_autoscaler("worker-b", namespace)
    wait_for("the floor raised once one HPA is left", lambda: _min(control_plane, namespace) == 4)


def test_an_autoscaling_v1_hpa_is_floored_and_keeps_its_cpu_target(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    """An HPA written in autoscaling/v1 form is the same object: qscaler floors
    it through v2, and its v1 view keeps targetCPUUtilizationPercentage."""
    _bound(control_plane, broker, vhost, namespace)
    v1 = client.AutoscalingV1Api(control_plane.api())
    v1.create_namespaced_horizontal_pod_autoscaler(
        namespace,
        {
            "metadata": {"name": "worker"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"},
                "minReplicas": 1,
                "maxReplicas": 10,
                "targetCPUUtilizationPercentage": 50,
            },
        },
    )
    start_qscaler()
    broker.publish(vhost, "work", 50)
    wait_for("5 replicas", lambda: control_plane.replicas(namespace, "worker") == 5)
    seen = v1.read_namespaced_horizontal_pod_autoscaler("worker", namespace)
    assert (seen.spec.min_replicas, seen.spec.target_cpu_utilization_percentage) == (5, 50)
    assert seen.metadata.annotations[ORIGINAL] == "1"
