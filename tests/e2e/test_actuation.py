"""qscaler end to end: a real broker, a real control plane, deploy/'s RBAC.

Every test runs `qscaler run` as a process with a ServiceAccount token from
deploy/base, so passing tests also prove those permissions suffice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.e2e.conftest import ENABLED, StartQscaler, consumer_annotations
from tests.harness.k8s import ControlPlane, ReplicaHistory, wait_for
from tests.harness.rabbitmq import Broker

pytestmark = [pytest.mark.k8s, pytest.mark.rabbitmq, pytest.mark.slow]


def test_scales_from_zero_to_max_and_back_to_zero(
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
        consumer_annotations(vhost, "work", min_replicas="0", max_replicas="5"),
        ENABLED,
    )
    start_qscaler()
    broker.publish(vhost, "work", 100)
    wait_for("5 replicas", lambda: control_plane.replicas(namespace, "worker") == 5, timeout=60)
    wait_for(
        "5 kwok pods Ready", lambda: control_plane.ready_pods(namespace, "worker") == 5, timeout=60
    )
    assert control_plane.events_by_reason(namespace, "worker").get("ScaleFromZero", [])

    assert broker.consume(vhost, "work", 100) == 100
    wait_for(
        "back to 0 after the cooldown",
        lambda: control_plane.replicas(namespace, "worker") == 0,
        timeout=60,
    )
    control_plane.await_events(namespace, "worker", "ScaleToZero", timeout=30)


def test_raises_the_hpa_floor_instead_of_fighting_the_hpa(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    broker.declare_queues(vhost, "work")
    annotations = consumer_annotations(vhost, "work", min_replicas="1", max_replicas="8")
    control_plane.deployment(namespace, "worker", 1, annotations, ENABLED)
    control_plane.hpa(namespace, "worker", "worker", min_replicas=1, max_replicas=8)
    history = ReplicaHistory(control_plane, namespace, "worker")
    qscaler = start_qscaler()

    broker.publish(vhost, "work", 60)
    wait_for(
        "the HPA's minReplicas raised to 6",
        lambda: control_plane.read_hpa(namespace, "worker")["spec"]["minReplicas"] == 6,
        timeout=60,
    )
    hpa = control_plane.read_hpa(namespace, "worker")
    assert hpa["metadata"]["annotations"]["qscaler.io/original-min-replicas"] == "1"
    wait_for(
        "the real HPA controller to scale to 6",
        lambda: control_plane.replicas(namespace, "worker") == 6,
        timeout=60,
    )
    managers = {
        m["manager"]
        for m in control_plane.read_deployment(namespace, "worker")["metadata"]["managedFields"]
    }
    assert "qscaler" not in managers, "qscaler must not write replicas under an HPA"

    assert broker.consume(vhost, "work", 60) == 60
    wait_for(
        "the original minReplicas restored",
        lambda: control_plane.read_hpa(namespace, "worker")["spec"]["minReplicas"] == 1,
        timeout=60,
    )
    restored = control_plane.read_hpa(namespace, "worker")
    assert "qscaler.io/original-min-replicas" not in (restored["metadata"].get("annotations") or {})

    # Raise it again, then opt the workload out: the floor goes back at once.
    broker.publish(vhost, "work", 30)
    wait_for(
        "the floor raised to 3",
        lambda: control_plane.read_hpa(namespace, "worker")["spec"]["minReplicas"] == 3,
        timeout=60,
    )
    control_plane.apps().patch_namespaced_deployment(
        "worker",
        namespace,
        {"metadata": {"labels": {"qscaler.io/enabled": None}}},
        _content_type="application/merge-patch+json",
    )
    wait_for(
        "the floor restored after opting out",
        lambda: control_plane.read_hpa(namespace, "worker")["spec"]["minReplicas"] == 1,
        timeout=60,
    )
    values = history.stop()
    assert values[0] == 1
    assert values == sorted(values), f"replicas went down and up: {values}"
    assert qscaler.metric("qscaler_leader") == 1


def test_only_the_leader_writes_and_the_follower_takes_over(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    broker.declare_queues(vhost, "work")
    annotations = consumer_annotations(
        vhost, "work", min_replicas="0", max_replicas="10", cooldown="1h"
    )
    control_plane.deployment(namespace, "worker", 0, annotations, ENABLED)
    timings = {
        "lease_duration_seconds": "6",
        "renew_deadline_seconds": "4",
        "retry_period_seconds": "1",
    }
    # The whole backlog is counted before anyone polls: a partial count would
    # take "first" to 3 in two writes, the second of them a ScaleUp.
    broker.publish_settled(vhost, "work", 30)
    first = start_qscaler("first", **timings)
    wait_for("first to lead", lambda: first.metric("qscaler_leader") == 1, timeout=30)
    second = start_qscaler("second", **timings)
    wait_for("second to follow", lambda: second.metric("qscaler_leader") == 0, timeout=30)
    wait_for("3 replicas", lambda: control_plane.replicas(namespace, "worker") == 3, timeout=60)
    # The Event is written after the scale write: wait for it, then check who wrote it.
    from_zero = control_plane.await_events(namespace, "worker", "ScaleFromZero", timeout=30)
    assert {e.get("reportingInstance") for e in from_zero} == {"first"}

    first.stop(signal.SIGKILL)  # a crash: the lease is not released
    # The lease runs out 6 s after the last renewal; the follower notices on its
    # next try. The margin is for a loaded machine, not part of the promise.
    wait_for(
        "second to take over once the lease has expired",
        lambda: second.metric("qscaler_leader") == 1,
        timeout=30,
    )
    history = ReplicaHistory(control_plane, namespace, "worker")
    broker.publish(vhost, "work", 30)
    wait_for(
        "6 replicas, written by the new leader",
        lambda: control_plane.replicas(namespace, "worker") == 6,
        timeout=60,
    )
    time.sleep(2)  # a few more 1-s cycles: a repeated write would land now
    changes = history.stop()  # [3, 6], or [3, k, 6] if a poll saw the publish half counted
    assert (changes[0], changes[-1]) == (3, 6), changes
    assert changes == sorted(changes), changes

    def scale_ups() -> list[dict[str, Any]]:
        return control_plane.events_by_reason(namespace, "worker").get("ScaleUp", [])

    wait_for(
        "one ScaleUp per change",
        lambda: sum(e.get("count", 1) for e in scale_ups()) >= len(changes) - 1,
        timeout=30,
    )
    assert {e.get("reportingInstance") for e in scale_ups()} == {"second"}
    assert sum(e.get("count", 1) for e in scale_ups()) == len(changes) - 1, "one write per change"


def test_the_deployed_service_account_may_not_read_secrets(
    control_plane: ControlPlane, qscaler_kubeconfig: Path, namespace: str
) -> None:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(qscaler_kubeconfig), client_configuration=configuration)
    core = client.CoreV1Api(client.ApiClient(configuration))
    with pytest.raises(ApiException) as refused:
        core.list_namespaced_secret(namespace)
    assert refused.value.status == 403
    with pytest.raises(ApiException) as refused:
        core.list_secret_for_all_namespaces()
    assert refused.value.status == 403


def test_an_invalid_binding_is_reported_while_its_neighbour_keeps_scaling(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    broker.declare_queues(vhost, "good", "bad")
    control_plane.deployment(namespace, "good", 1, consumer_annotations(vhost, "good"), ENABLED)
    control_plane.deployment(
        namespace, "bad", 1, consumer_annotations(vhost, "bad", max_replicas="lots"), ENABLED
    )
    qscaler = start_qscaler()
    broker.publish(vhost, "good", 40)
    broker.publish(vhost, "bad", 40)
    wait_for(
        "good to scale to 4", lambda: control_plane.replicas(namespace, "good") == 4, timeout=60
    )
    warnings = control_plane.await_events(namespace, "bad", "InvalidBinding", timeout=30)
    assert warnings[0]["type"] == "Warning"
    assert 'qscaler.io/max-replicas "lots" is not a whole number' in warnings[0]["message"]
    assert control_plane.replicas(namespace, "bad") == 1
    labels = {"namespace": namespace, "workload": "bad", "kind": "Deployment"}
    assert qscaler.metric("qscaler_binding_valid", **labels) == 0
    assert qscaler.metric("qscaler_invalid_bindings") == 1


def test_statefulsets_scale_through_their_scale_subresource(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    broker.declare_queues(vhost, "work")
    control_plane.apps().create_namespaced_stateful_set(
        namespace,
        {
            "metadata": {
                "name": "ordered",
                "labels": ENABLED,
                "annotations": consumer_annotations(vhost, "work"),
            },
            "spec": {
                "replicas": 1,
                "serviceName": "ordered",
                "selector": {"matchLabels": {"app": "ordered"}},
                "template": {
                    "metadata": {"labels": {"app": "ordered"}},
                    "spec": {
                        "containers": [{"name": "consumer", "image": "fake.invalid/consumer"}]
                    },
                },
            },
        },
    )
    start_qscaler()
    broker.publish(vhost, "work", 30)

    def stateful_replicas() -> int:
        return int(
            control_plane.apps().read_namespaced_stateful_set("ordered", namespace).spec.replicas
        )

    wait_for("the StatefulSet at 3 replicas", lambda: stateful_replicas() == 3, timeout=60)
    wait_for(
        "3 Ready kwok pods", lambda: control_plane.ready_pods(namespace, "ordered") == 3, timeout=90
    )


def test_plan_reads_its_bindings_from_the_cluster(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    qscaler_kubeconfig: Path,
) -> None:
    """`qscaler plan` without --bindings: one pass over the labelled workloads of
    the cluster, under deploy/'s RBAC, printing decisions and writing nothing."""
    broker.declare_queues(vhost, "work")
    broker.publish(vhost, "work", 70)
    control_plane.deployment(namespace, "worker", 2, consumer_annotations(vhost, "work"), ENABLED)
    control_plane.deployment(namespace, "unlabelled", 2, consumer_annotations(vhost, "work"))
    wait_for(
        "the broker to count 70", lambda: (broker.queue(vhost, "work") or {}).get("messages") == 70
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("QSCALER_")}
    env.update(
        QSCALER_KUBECONFIG=str(qscaler_kubeconfig),
        QSCALER_NAMESPACES=namespace,
        QSCALER_MANAGEMENT_URL=broker.mgmt_url,
        QSCALER_USERNAME=broker.user,
        QSCALER_PASSWORD=broker.password,
    )
    done = subprocess.run(
        [sys.executable, "-m", "qscaler", "plan", "--output", "json"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["workloads"]
    assert [r["workload"] for r in rows] == ["worker"]
    assert rows[0]["decision"]["desired"] == 7
    assert control_plane.replicas(namespace, "worker") == 2, "plan never writes"


def test_the_activation_probe_wakes_a_zero_replica_deployment_between_polls(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    """With an hour between polls, only the probe's passive declare can see the
    messages: the Deployment leaves 0 within seconds of the publish, written
    through the same scale subresource, with a ScaleFromZero Event."""
    broker.declare_queues(vhost, "work")
    control_plane.deployment(
        namespace,
        "worker",
        0,
        consumer_annotations(vhost, "work", min_replicas="0", max_replicas="5"),
        ENABLED,
    )
    qscaler = start_qscaler(poll_interval_seconds="3600", amqp_url=broker.amqp_url)
    wait_for(
        "the first read",
        lambda: qscaler.metric("qscaler_source_reads_total", broker="default", vhost=vhost),
    )
    reads = qscaler.metric_sum("qscaler_source_reads_total")
    broker.publish(vhost, "work", 30, atomic=True)
    wait_for("woken", lambda: control_plane.replicas(namespace, "worker") > 0, timeout=30)
    assert qscaler.metric_sum("qscaler_source_reads_total") == reads  # no poll since
    control_plane.await_events(namespace, "worker", "ScaleFromZero", timeout=30)
