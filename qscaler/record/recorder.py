"""Report every outcome the loop produces: metrics, Events, logs, /status.

One place turns an `Outcome` into all its reports, so the metric label, the
Event reason and the log field are always the same word. Events go through
the small `EventSink` protocol (the Kubernetes adapter aggregates repeats);
without a cluster the sink is a no-op.

Log lines repeat on the same terms as Events: a problem that lasts (an
invalid binding, a vhost that cannot be read, data gone stale) is logged when
it starts, then at most once per `repeat_seconds` while it lasts, with the
number of cycles it was not logged; it is logged at once again when it changes
(another reason, or a message that differs in more than its numbers) or comes
back after a cycle without it. Metrics still show every cycle.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Hashable
from typing import Any

from prometheus_client import Counter, Gauge

from qscaler.core.actuation import baseline
from qscaler.core.binding import DEFAULT_BROKER
from qscaler.core.model import Decision, QueueFigures
from qscaler.core.policy import Mode
from qscaler.core.reasons import HELD_BACK, UNTRUSTED_DATA, Hold, Reason
from qscaler.core.workload import Workload, WorkloadRef
from qscaler.errors import SourceError
from qscaler.outcome import CycleReport, Outcome
from qscaler.record.event_sink import EventSink, NoEvents
from qscaler.record.metrics import Metrics

decisions_log = logging.getLogger("qscaler.decision")
errors_log = logging.getLogger("qscaler.error")
sources_log = logging.getLogger("qscaler.source")

NORMAL, WARNING = "Normal", "Warning"
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")


class OutcomeRecorder:
    """The loop's Recorder: metrics, Events and logs, plus the last report."""

    def __init__(
        self,
        metrics: Metrics,
        events: EventSink | None = None,
        wall_clock: Callable[[], float] = time.time,
        dry_run: bool = False,
        repeat_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`dry_run`: the whole process only reports (`--dry-run`, `--bindings`).
        `repeat_seconds`: how often a repeated log line is written (module
        docstring); 0 writes every one."""
        self.metrics = metrics
        self._repeats = _Repeats(repeat_seconds, clock)
        self.dry_run = dry_run
        self.events = events or NoEvents()
        self.wall_clock = wall_clock
        self.last_report: CycleReport | None = None
        self._held: dict[WorkloadRef, set[str]] = {}
        self._decision_labels: dict[WorkloadRef, set[tuple[str, str]]] = {}
        self._queue_states: set[WorkloadRef] = set()
        self._polled: set[tuple[str, str]] = set()  # (broker, vhost) with a last-poll series
        self._read: set[tuple[str, str]] = set()  # (broker, vhost) read in the cycle under way
        self._failing: dict[tuple[str, str], int] = {}  # (broker, vhost) -> failed reads in a row
        self._series: dict[WorkloadRef, _WorkloadSeries] = {}

    # --- Recorder protocol ---

    def outcome(self, outcome: Outcome) -> None:
        """Report one workload's outcome."""
        m, series = self.metrics, self._series_of(outcome.ref)
        series.set(m.spec_replicas, outcome.workload.replicas)
        series.set(m.binding_valid, 0 if outcome.policy is None else 1)
        if outcome.policy is not None:
            series.set(m.replicas_min, outcome.policy.min_replicas)
            series.set(m.replicas_max, outcome.policy.max_replicas)
            dry = (
                self.dry_run or outcome.policy.mode is Mode.DRY_RUN or outcome.held is Hold.DRY_RUN
            )
            series.set(m.dry_run, 1 if dry else 0)
        if outcome.observation is not None and outcome.decision is not None:
            self._observation(outcome, outcome.decision)
        self._set_held(outcome)
        self._events_and_logs(outcome)

    def source_read(
        self, vhost: str, error: SourceError | None, at: float, broker: str = DEFAULT_BROKER
    ) -> None:
        """Count a vhost read of `broker`; a failure is logged and counted by kind."""
        self.metrics.source_reads.labels(broker, vhost).inc()
        self._read.add((broker, vhost))
        if error is None:
            self._repeats.end(("vhost", broker, vhost))
            self.metrics.last_poll.labels(broker, vhost).set(self.wall_clock())
            self._polled.add((broker, vhost))
            failed = self._failing.pop((broker, vhost), 0)
            if failed:
                sources_log.info(
                    "reading vhost %r%s works again after %d failed read(s)",
                    vhost, _of(broker), failed,
                    extra={"fields": {"broker": broker, "vhost": vhost, "failed_reads": failed}},
                )  # fmt: skip
            return
        self._failing[(broker, vhost)] = self._failing.get((broker, vhost), 0) + 1
        self.metrics.source_errors.labels(broker, vhost, error.kind).inc()
        fields: dict[str, object] = {"broker": broker, "vhost": vhost, "kind": error.kind}
        if self._repeats.due(("vhost", broker, vhost), _problem(error.kind, str(error)), fields):
            of = _of(broker)
            errors_log.warning(
                "reading vhost %r%s failed: %s", vhost, of, error, extra={"fields": fields}
            )

    def cycle(self, report: CycleReport) -> None:
        """Loop health, workload counts, and removal of departed workloads' series.

        A follower evaluates nothing, so it exports no per-workload or per-vhost
        view and counts 0 workloads: after losing the Lease, a process must not
        keep serving its last view as if it were current (it would age into a
        "polls stale" alert and double the leader's series on a dashboard).
        """
        self.last_report = report
        self.metrics.leader.set(1 if report.leader else 0)
        self.metrics.cycle_seconds.observe(max(0.0, report.finished_at - report.started_at))
        self.metrics.last_cycle.set(self.wall_clock())
        read, self._read = self._read, set()  # a follower reads nothing
        self.metrics.workloads.set(len(report.outcomes))
        self.metrics.invalid_bindings.set(sum(1 for o in report.outcomes if o.policy is None))
        self._remove_departed({o.ref for o in report.outcomes})
        for key in self._polled - read:  # no binding reads it any more
            _remove(self.metrics.last_poll, key)
        self._polled &= read
        self.events.flush()
        self._failing = {v: n for v, n in self._failing.items() if v in read}

    # --- metrics ---

    def _observation(self, outcome: Outcome, decision: Decision) -> None:
        m, series = self.metrics, self._series_of(outcome.ref)
        observation = outcome.observation
        assert observation is not None
        series.set(m.replicas_current, decision.current)
        series.set(m.replicas_desired, decision.desired)
        if outcome.plan is not None and in_force(outcome):
            series.set(m.replicas_applied, outcome.plan.applied)
        direction, reason = decision.direction.value, decision.reason.value
        series.inc(m.decisions, direction, reason)
        self._decision_labels.setdefault(outcome.ref, set()).add(
            (decision.direction.value, decision.reason.value)
        )
        if decision.reason in UNTRUSTED_DATA:
            return  # keep the last trustworthy queue view rather than zeros
        if decision.recommended is not None:
            series.set(m.replicas_recommended, decision.recommended)
        if decision.backlog is not None:
            series.set(m.backlog, decision.backlog)
        d = decision.figures or QueueFigures()
        series.set(m.queue_messages, d.messages_ready, "ready")
        series.set(m.queue_messages, d.messages_unacknowledged, "unacknowledged")
        self._queue_states.add(outcome.ref)
        series.set(m.consumers, d.consumers)
        series.set(m.queues_matched, len(observation.queues))
        if d.publish_rate is not None:
            series.set(m.publish_rate, d.publish_rate)
        if d.ack_rate is not None:
            series.set(m.ack_rate, d.ack_rate)
        if decision.throughput is not None:
            series.set(m.throughput, decision.throughput)
        if d.forecast is not None:
            series.set(m.forecast_replicas, d.forecast.replicas)
            series.set(m.forecast_period, d.forecast.period_seconds or 0.0)
            series.set(m.forecast_trust, d.forecast.trust)

    def _series_of(self, ref: WorkloadRef) -> _WorkloadSeries:
        series = self._series.get(ref)
        if series is None:
            series = self._series[ref] = _WorkloadSeries(_labels(ref))
        return series

    def _set_held(self, outcome: Outcome) -> None:
        now_held: set[str] = set()
        reason = outcome.reason
        if reason is not None and (reason in HELD_BACK or reason is Reason.WRITE_FAILED):
            now_held.add(reason.value)  # a refused write holds scaling back too
        if outcome.held is not None:
            now_held.add(outcome.held.value)
        if outcome.plan is not None and outcome.plan.capped_by_hpa:
            now_held.add(Hold.CAPPED_BY_HPA.value)
        before = self._held.get(outcome.ref, set())
        labels, series = _labels(outcome.ref), self._series_of(outcome.ref)
        for gone in before - now_held:
            self.metrics.held_back.remove(*labels, gone)
            series.forget(self.metrics.held_back, gone)
        for held in now_held:
            series.set(self.metrics.held_back, 1, held)
        self._held[outcome.ref] = now_held

    def _remove_departed(self, present: set[WorkloadRef]) -> None:
        departed = (set(self._held) | set(self._decision_labels) | self._queue_states) - present
        for ref in departed:
            self._repeats.end(ref)
            self._series.pop(ref, None)  # removed below: a cached series would not export
            labels = _labels(ref)
            for gauge in self.metrics.workload_gauges():
                _remove(gauge, labels)
            for state in ("ready", "unacknowledged"):
                _remove(self.metrics.queue_messages, (*labels, state))
            for reason in self._held.pop(ref, set()):
                _remove(self.metrics.held_back, (*labels, reason))
            for direction, reason in self._decision_labels.pop(ref, set()):
                _remove(self.metrics.decisions, (*labels, direction, reason))
            self._queue_states.discard(ref)

    # --- events and logs ---

    def _events_and_logs(self, outcome: Outcome) -> None:
        decision, workload = outcome.decision, outcome.workload
        if outcome.policy is None:
            self._warn(
                workload, Reason.INVALID_BINDING.value, f"invalid binding: {outcome.error}", outcome
            )
        elif outcome.reason is Reason.WRITE_FAILED:
            self._warn(
                workload, Reason.WRITE_FAILED.value, f"write failed: {outcome.error}", outcome
            )
        elif decision is None:
            self._warn(
                workload, Reason.INTERNAL_ERROR.value, outcome.error or "no decision", outcome
            )
        elif decision.reason in UNTRUSTED_DATA:
            self._warn(workload, decision.reason.value, decision.message, outcome)
        elif outcome.written:
            self._normal(workload, decision.reason.value, _describe_write(outcome), outcome)
        elif outcome.held is Hold.DRY_RUN:
            self._normal(
                workload,
                decision.reason.value,
                "dry-run: would " + _describe_write(outcome),
                outcome,
            )
        else:
            self._repeats.end(outcome.ref)

    def _warn(self, workload: Workload, reason: str, message: str, outcome: Outcome) -> None:
        fields = _fields(outcome)
        if self._repeats.due(workload.ref, _problem(reason, message), fields):
            errors_log.warning("%s %s: %s", workload.ref, reason, message, extra={"fields": fields})
        self.events.emit(workload, WARNING, reason, message)

    def _normal(self, workload: Workload, reason: str, message: str, outcome: Outcome) -> None:
        fields = _fields(outcome)
        if self._repeats.due(workload.ref, (NORMAL, reason, message), fields):
            decisions_log.info("%s %s: %s", workload.ref, reason, message, extra={"fields": fields})
        self.events.emit(workload, NORMAL, reason, message)


class _Repeats:
    """Which repeated log lines to write (module docstring).

    A subject (a workload, a vhost) has at most one run going: the same `key`
    cycle after cycle. `due` says whether this one is written, and adds the
    count of those skipped since the last written one to its fields; `end`
    closes the run, so the next occurrence is written at once.
    """

    def __init__(self, every: float, clock: Callable[[], float]) -> None:
        self.every = every
        self.clock = clock
        self._runs: dict[Hashable, list[Any]] = {}  # subject -> [key, written at, skipped]

    def due(self, subject: Hashable, key: Hashable, fields: dict[str, object]) -> bool:
        if self.every <= 0:
            return True
        now, run = self.clock(), self._runs.get(subject)
        if run is not None and run[0] == key and now - run[1] < self.every:
            run[2] += 1
            return False
        if run is not None and run[0] == key and run[2]:
            fields["repeats_not_logged"] = run[2]
        self._runs[subject] = [key, now, 0]
        return True

    def end(self, subject: Hashable) -> None:
        self._runs.pop(subject, None)


class _WorkloadSeries:
    """One workload's series, each looked up once and set only when its value changes.

    At 2,000 workloads an outcome sets about 16 series; finding each with
    `labels()` and setting an unchanged value cost a third of a cycle's CPU
    time (docs/performance.md). A cached series must not outlive its removal:
    the OutcomeRecorder drops the whole `_WorkloadSeries` when it removes a workload's series,
    and `forget`s a single one it removes (a reason no longer holding it back).
    """

    __slots__ = ("_children", "_labels", "_values")

    def __init__(self, labels: tuple[str, ...]) -> None:
        self._labels = labels
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._values: dict[tuple[int, tuple[str, ...]], float] = {}

    def set(self, gauge: Gauge, value: float, *more: str) -> None:
        key = (id(gauge), more)
        if self._values.get(key) == value:
            return
        self._child(gauge, key).set(value)
        self._values[key] = value

    def forget(self, metric: Gauge | Counter, *more: str) -> None:
        """After `metric.remove(...)` of this series."""
        self._children.pop((id(metric), more), None)
        self._values.pop((id(metric), more), None)

    def inc(self, counter: Counter, *more: str) -> None:
        self._child(counter, (id(counter), more)).inc()

    def _child(self, metric: Gauge | Counter, key: tuple[int, tuple[str, ...]]) -> Any:
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*self._labels, *key[1])
        return child


def _labels(ref: WorkloadRef) -> tuple[str, str, str]:
    return (ref.namespace, ref.name, ref.kind)


def _remove(metric: Gauge | Counter, labels: tuple[str, ...]) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


def _problem(reason: str, message: str) -> tuple[str, str]:
    """What makes two warnings the same problem: the reason and the message
    apart from its numbers (an age or a count changes every cycle; a different
    error has different words)."""
    return reason, _NUMBERS.sub("N", message)


def _fields(outcome: Outcome) -> dict[str, object]:
    fields: dict[str, object] = {
        "namespace": outcome.ref.namespace,
        "workload": outcome.ref.name,
        "kind": outcome.ref.kind,
    }
    if outcome.decision is not None:
        d = outcome.decision
        fields.update(current=d.current, desired=d.desired, reason=d.reason.value)
    elif outcome.reason is not None:
        fields["reason"] = outcome.reason.value
    if outcome.plan is not None:
        fields["planned"] = outcome.plan.applied
        if in_force(outcome):
            fields["applied"] = outcome.plan.applied
    if outcome.held is not None:
        fields["held"] = outcome.held.value
    return fields


def in_force(outcome: Outcome) -> bool:
    """Whether the plan's count is what the cluster has now: written this
    cycle, or nothing to write. "applied" means this, in the metric, the log
    and /status alike; a held plan is only "planned"."""
    plan = outcome.plan
    return plan is not None and (outcome.written or not plan.writes)


def _describe_write(outcome: Outcome) -> str:
    decision, planned, hpa = outcome.decision, outcome.plan, outcome.hpa
    assert decision is not None
    assert planned is not None
    parts = []
    if planned.replicas is not None:
        parts.append(f"scale {outcome.workload.replicas} → {planned.replicas}")
    if hpa is not None and planned.hpa_floor is not None:
        parts.append(
            f"set HPA {hpa.name} minReplicas {hpa.min_replicas} → {planned.hpa_floor} "
            f"(original {planned.hpa_original})"
        )
    if hpa is not None and planned.capped_by_hpa:
        parts.append(
            f"{Hold.CAPPED_BY_HPA}: the queue asks for {planned.desired}, "
            f"the HPA's maxReplicas is {hpa.max_replicas}"
        )
    if hpa is not None and planned.restore_hpa:
        parts.append(f"restore HPA {hpa.name} minReplicas to {baseline(hpa)}")
    return "; ".join(parts) + f" ({decision.message})"


def _of(broker: str) -> str:
    """ " of broker NAME" in log messages, nothing for the default broker."""
    return "" if broker == DEFAULT_BROKER else f" of broker {broker}"
