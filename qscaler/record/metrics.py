"""Prometheus metrics of every observation, decision and error.

The registry is injected (client_python's own pattern), so tests read values
with `registry.get_sample_value` and the demo, the simulator and a real run
never share global state.

Cardinality is bounded on purpose: per-workload series carry `namespace`,
`workload` and `kind` only, never a queue name. A `re:` binding can match
thousands of queues; its queues are summed into the workload's series (and
counted in `qscaler_queues_matched`), so the number of series grows with
workloads, not with queues. Broker and vhost labels are allowed: there are few.
"""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from qscaler import __version__

WORKLOAD_LABELS = ("namespace", "workload", "kind")


class Metrics:
    """Every qscaler metric, registered on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        w = WORKLOAD_LABELS
        self.queue_messages = Gauge(
            "qscaler_queue_messages",
            "Messages in the workload's matched queues as last observed, by state.",
            [*w, "state"],
            registry=registry,
        )
        self.publish_rate = Gauge(
            "qscaler_queue_publish_messages_per_second",
            "Smoothed publish rate into the workload's matched queues.",
            w,
            registry=registry,
        )
        self.ack_rate = Gauge(
            "qscaler_queue_ack_messages_per_second",
            "Smoothed acknowledge rate (processing throughput) of the workload's queues.",
            w,
            registry=registry,
        )
        self.consumers = Gauge(
            "qscaler_queue_consumers",
            "Consumers on the workload's busiest-subscribed matched queue.",
            w,
            registry=registry,
        )
        self.queues_matched = Gauge(
            "qscaler_queues_matched",
            "Queues the workload's binding matched in the last observation.",
            w,
            registry=registry,
        )
        self.throughput = Gauge(
            "qscaler_replica_throughput_messages_per_second",
            "Learned messages per second one replica processes (rate-aware mode).",
            w,
            registry=registry,
        )
        self.forecast_replicas = Gauge(
            "qscaler_forecast_replicas",
            "Replicas the forecast of recurring load asks to have ready now (0: none due); "
            "applied unless the workload's forecast is in shadow mode.",
            w,
            registry=registry,
        )
        self.forecast_period = Gauge(
            "qscaler_forecast_period_seconds",
            "The recurring-load period learned from the publish rate (0: none learned).",
            w,
            registry=registry,
        )
        self.forecast_trust = Gauge(
            "qscaler_forecast_trust",
            "Trust in the next forecast, 0 to 1: halved by each burst that did not come.",
            w,
            registry=registry,
        )
        self.backlog = Gauge(
            "qscaler_backlog_messages",
            "The backlog the policy sizes for (count and aggregate applied).",
            w,
            registry=registry,
        )
        self.replicas_current = self._replicas(
            "current", "Replicas qscaler found (spec.replicas, or the HPA floor)."
        )
        self.replicas_desired = self._replicas(
            "desired", "Replicas the policy wants after every step (what a dry run would apply)."
        )
        self.replicas_recommended = self._replicas(
            "recommended",
            "Replicas the queue data asks for before stabilization, limits and holds.",
        )
        self.replicas_applied = self._replicas(
            "applied", "Replicas written: spec.replicas or the HPA minReplicas floor."
        )
        self.replicas_min = self._replicas("min", "min-replicas of the workload's policy.")
        self.replicas_max = self._replicas("max", "max-replicas of the workload's policy.")
        self.spec_replicas = self._replicas(
            "spec", "spec.replicas of the workload as last seen in the watch cache."
        )
        self.decisions = Counter(
            "qscaler_decisions_total",
            "Decisions made, by direction and reason.",
            [*w, "direction", "reason"],
            registry=registry,
        )
        self.held_back = Gauge(
            "qscaler_held_back",
            "1 while scaling is held back for this reason (e.g. Stabilizing, AtMax, "
            "SourceStale, Paused, DryRun, WriteFailed).",
            [*w, "reason"],
            registry=registry,
        )
        self.dry_run = Gauge(
            "qscaler_dry_run",
            "1 when the workload is in dry-run mode (decisions are reported, not written).",
            w,
            registry=registry,
        )
        self.binding_valid = Gauge(
            "qscaler_binding_valid",
            "1 when the workload's annotations parse, 0 when they are invalid.",
            w,
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

    def _replicas(self, what: str, doc: str) -> Gauge:
        return Gauge(f"qscaler_replicas_{what}", doc, WORKLOAD_LABELS, registry=self.registry)

    def workload_gauges(self) -> tuple[Gauge, ...]:
        """Every per-workload gauge, for removing a workload's series."""
        return (
            self.publish_rate, self.ack_rate, self.consumers, self.queues_matched,
            self.throughput, self.forecast_replicas, self.forecast_period, self.forecast_trust,
            self.backlog, self.replicas_current, self.replicas_desired,
            self.replicas_recommended, self.replicas_applied, self.replicas_min,
            self.replicas_max, self.spec_replicas, self.dry_run, self.binding_valid,
        )  # fmt: skip
