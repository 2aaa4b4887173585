"""Every metric and label the dashboard and the alert rules use is one qscaler exports.

The check runs against real scrapes, twice, because qscaler exports some
series only inside a cluster:

* against `qscaler run --bindings` on the real broker (no cluster): every
  referenced family except the Kubernetes request counters has samples, and
  those two are announced (HELP/TYPE) without samples. The test asserts that
  this exception is exactly those two families, so it cannot grow silently;
* against `qscaler run` on the real control plane, under a ServiceAccount
  that may watch workloads and take the Lease but not patch the scale
  subresource: the write is refused with a real 403, so the Kubernetes error
  counters have samples too, and every referenced family is checked with its
  labels, with nothing allowed to be missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.k8s import ControlPlane
from tests.harness.qscaler_process import QscalerProcess
from tests.harness.rabbitmq import Broker, poll_until
from tests.observability.conftest import DASHBOARD, RULES, BrokerRun, ack_some
from tests.observability.promql_refs import (
    SCRAPE_SERIES,
    Exported,
    Query,
    dashboard_queries,
    problems,
    references,
    rules_queries,
)

#: qscaler's exported series; the broker's version does not enter.
pytestmark = pytest.mark.rabbitmq_one_version

#: Families that only a process talking to Kubernetes can give samples.
CLUSTER_ONLY = frozenset({"qscaler_kubernetes_requests_total", "qscaler_kubernetes_errors_total"})


def all_queries() -> list[Query]:
    return dashboard_queries(DASHBOARD) + rules_queries(RULES)


def referenced_metrics(queries: list[Query], exported: Exported) -> set[str]:
    return {m for q in queries for m in references(q).metrics} - SCRAPE_SERIES


def test_the_files_have_the_queries_the_issue_asks_for() -> None:
    """Guards the extractor: if it stopped finding queries, the checks below
    would pass on nothing."""
    queries = all_queries()
    where = {q.where.split(" ")[0] for q in queries}
    assert where == {"variable", "annotation", "panel", "rule"}
    metrics = referenced_metrics(queries, Exported())
    for wanted in (
        "qscaler_queue_messages",
        "qscaler_replicas_desired",
        "qscaler_replicas_applied",
        "qscaler_decisions_total",
        "qscaler_held_back",
        "qscaler_source_errors_total",
        "qscaler_kubernetes_errors_total",
        "qscaler_invalid_bindings",
        "qscaler_cycle_duration_seconds_bucket",
        "qscaler_leader",
        "qscaler_build_info",
        "qscaler_last_successful_poll_timestamp_seconds",
    ):
        assert wanted in metrics


@pytest.mark.rabbitmq
def test_against_the_broker_every_reference_is_exported(broker_run: BrokerRun) -> None:
    exported = Exported.parse(broker_run.qscaler.metrics())
    queries = all_queries()
    assert problems(queries, exported, allow_empty=CLUSTER_ONLY) == []
    without_samples = {m for m in referenced_metrics(queries, exported) if not exported.has(m)}
    assert without_samples == CLUSTER_ONLY
    assert exported.empty >= CLUSTER_ONLY


FORBIDDEN_SCALE_ROLE = """
apiVersion: v1
kind: ServiceAccount
metadata: {{name: qscaler-no-scale, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: qscaler-no-scale, namespace: {ns}}}
rules:
  - apiGroups: ["apps"]
    resources: ["deployments", "statefulsets"]
    verbs: ["list", "watch"]
  - apiGroups: ["autoscaling"]
    resources: ["horizontalpodautoscalers"]
    verbs: ["get", "list", "watch", "patch"]
  - apiGroups: [""]
    resources: ["events"]
    verbs: ["create", "patch"]
  - apiGroups: ["coordination.k8s.io"]
    resources: ["leases"]
    verbs: ["get", "create", "update"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: qscaler-no-scale, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: qscaler-no-scale}}
subjects: [{{kind: ServiceAccount, name: qscaler-no-scale, namespace: {ns}}}]
"""


@pytest.mark.k8s
@pytest.mark.rabbitmq
@pytest.mark.slow
def test_in_a_cluster_every_reference_has_samples_and_credentials_stay_out_of_events(
    control_plane: ControlPlane, broker: Broker, vhost: str, namespace: str, tmp_path: Path
) -> None:
    from tests.e2e.conftest import ENABLED, consumer_annotations

    control_plane.kubectl("apply", "-f", "-", stdin=FORBIDDEN_SCALE_ROLE.format(ns=namespace))
    poll_until(
        "the ServiceAccount",
        lambda: control_plane.kubectl("get", "serviceaccount", "-n", namespace, "-o", "name"),
        lambda names: "qscaler-no-scale" in names,
    )
    kubeconfig = control_plane.service_account_kubeconfig(namespace, "qscaler-no-scale", tmp_path)
    broker.declare_queues(vhost, "orders", "idle")
    broker.publish(vhost, "orders", 55)
    ack_some(broker, vhost, "orders", 5)
    missing = f"{vhost}-missing"
    deployments = {
        "backlog": (1, consumer_annotations(vhost, "orders", max_replicas="3")),
        "steady": (1, consumer_annotations(vhost, "idle", min_replicas="1")),
        "invalid": (1, consumer_annotations(vhost, "idle", max_replicas="lots")),
        "lost": (1, consumer_annotations(missing, "orders")),
    }
    for name, (replicas, wanted) in deployments.items():
        control_plane.deployment(namespace, name, replicas, wanted, ENABLED)
    qscaler = QscalerProcess(
        tmp_path,
        "cluster",
        {
            "QSCALER_KUBECONFIG": str(kubeconfig),
            "QSCALER_MANAGEMENT_URL": broker.mgmt_url,
            "QSCALER_USERNAME": broker.user,
            "QSCALER_PASSWORD": broker.password,
            "QSCALER_POLL_INTERVAL_SECONDS": "1",
            "QSCALER_RATE_SMOOTHING_SECONDS": "0",
            "QSCALER_NAMESPACES": namespace,
            "QSCALER_LEASE_NAME": "qscaler",
            "QSCALER_LEASE_NAMESPACE": namespace,
            "QSCALER_EVENT_REPEAT_SECONDS": "5",
        },
    )
    qscaler.start()
    try:
        backlog = {"namespace": namespace, "workload": "backlog", "kind": "Deployment"}
        poll_until(
            "a refused write, a source error and real rates",
            lambda: (
                qscaler.metric("qscaler_kubernetes_errors_total",
                               verb="patch", resource="deployments/scale", code="403"),
                qscaler.metric("qscaler_held_back", reason="WriteFailed", **backlog),
                qscaler.metric("qscaler_source_errors_total", broker="default", vhost=missing, kind="error"),
                qscaler.metric("qscaler_queue_ack_messages_per_second", **backlog),
            ),
            lambda seen: all(v is not None for v in seen),
            timeout=90,
        )  # fmt: skip
        # The recorder exports each workload as the cycle reaches it, so the
        # scrape that first showed the backlog's figures may have come before
        # the cycle reached the other workloads: wait for a whole view.
        queries = all_queries()
        poll_until(
            "every dashboard and alert reference to have samples",
            lambda: problems(queries, Exported.parse(qscaler.metrics()), allow_empty=frozenset()),
            lambda unmet: unmet == [],
            timeout=30,
        )
        exported = Exported.parse(qscaler.metrics())
        assert {m for m in referenced_metrics(queries, exported) if not exported.has(m)} == set()
        assert qscaler.metric("qscaler_leader") == 1

        poll_until(
            "the WriteFailed and SourceError Events",
            lambda: {e["reason"] for n in deployments for e in control_plane.events(namespace, n)},
            lambda reasons: {"WriteFailed", "SourceError", "InvalidBinding"} <= reasons,
            timeout=60,
        )
        events = [e for n in deployments for e in control_plane.events(namespace, n)]
        for text in (repr(events), qscaler.metrics(), qscaler.get("/status")[1], qscaler.logs()):
            assert broker.password not in text
    finally:
        qscaler.stop()
