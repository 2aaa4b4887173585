"""Prometheus metrics of every observation, decision and error.

The registry is injected (client_python's own pattern), so tests read values
with `registry.get_sample_value` and the demo, the simulator and a real run
never share global state.

Cardinality is bounded on purpose: per-workload series carry `namespace`,
`workload` and `kind` only, never a queue name. A `re:` binding can match
thousands of queues; its queues are summed into the workload's series (and
counted in `qscaler_queues_matched`), so the number of series grows with
workloads, not with queues. Broker and vhost labels are allowed: there are few.

The per-workload gauges are not kept here between scrapes: `WorkloadGauges`
builds them at scrape time from the last cycle's report. What counts events
(decisions, reads, errors) stays a Counter, incremented as they happen.
"""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from qscaler import __version__
from qscaler.record.workload_gauges import WORKLOAD_LABELS, WorkloadGauges


class Metrics:
    """Every qscaler metric, registered on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.per_workload = WorkloadGauges()
        registry.register(self.per_workload)
        self.decisions = Counter(
            "qscaler_decisions_total",
            "Decisions made, by direction and reason.",
            [*WORKLOAD_LABELS, "direction", "reason"],
            registry=registry,
        )
        self.invalid_bindings = Gauge(
            "qscaler_invalid_bindings",
            "Workloads whose annotations are invalid.",
            registry=registry,
        )
        self.workloads = Gauge(
            "qscaler_workloads", "Workloads that carry the opt-in label.", registry=registry
        )
        self.source_errors = Counter(
            "qscaler_source_errors_total",
            "Failed RabbitMQ reads, by broker, vhost and kind (unavailable, auth, data, ...).",
            ["broker", "vhost", "kind"],
            registry=registry,
        )
        self.source_reads = Counter(
            "qscaler_source_reads_total",
            "RabbitMQ vhost reads attempted, by broker and vhost.",
            ["broker", "vhost"],
            registry=registry,
        )
        self.last_poll = Gauge(
            "qscaler_last_successful_poll_timestamp_seconds",
            "Unix time of the last successful read of the vhost of the broker.",
            ["broker", "vhost"],
            registry=registry,
        )
        self.kube_requests = Counter(
            "qscaler_kubernetes_requests_total",
            "Kubernetes API requests, by verb, resource and HTTP code (0: not reached).",
            ["verb", "resource", "code"],
            registry=registry,
        )
        self.kube_errors = Counter(
            "qscaler_kubernetes_errors_total",
            "Failed Kubernetes API requests, by verb, resource and HTTP code.",
            ["verb", "resource", "code"],
            registry=registry,
        )
        self.cycle_seconds = Histogram(
            "qscaler_cycle_duration_seconds",
            "Time one control-loop cycle took.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.last_cycle = Gauge(
            "qscaler_last_cycle_timestamp_seconds",
            "Unix time the last control-loop cycle finished.",
            registry=registry,
        )
        self.forecast_store = Counter(
            "qscaler_forecast_store_operations_total",
            "Operations on the ConfigMap that keeps the forecast's history: read, write, "
            "restore (one workload's entry) and evict (an entry dropped for room), by result.",
            ["operation", "result"],
            registry=registry,
        )
        self.leader = Gauge(
            "qscaler_leader", "1 while this process holds the leader Lease.", registry=registry
        )
        self.build_info = Gauge(
            "qscaler_build_info",
            "Always 1; labels carry the version.",
            ["version", "python"],
            registry=registry,
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
