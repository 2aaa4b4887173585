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
from qscaler.core.defaults import DEFAULT_BROKER
from qscaler.core.model import Direction
from qscaler.core.reasons import UNTRUSTED_DATA, Hold, Reason
from qscaler.core.workload import Workload, WorkloadRef
from qscaler.errors import SourceError
from qscaler.outcome import CycleReport, Outcome, in_force
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
        self._known: set[WorkloadRef] = set()  # with a decision counter or a log run
        self._polled: set[tuple[str, str]] = set()  # (broker, vhost) with a last-poll series
        self._read: set[tuple[str, str]] = set()  # (broker, vhost) read in the cycle under way
        self._failing: dict[tuple[str, str], int] = {}  # (broker, vhost) -> failed reads in a row

    # --- Recorder protocol ---

    def outcome(self, outcome: Outcome) -> None:
        """Count one workload's decision and write its Events and logs; its
        gauges are built at scrape time from the cycle's report."""
        self._known.add(outcome.ref)
        decision = outcome.decision
        if outcome.observation is not None and decision is not None:
            direction, reason = decision.direction.value, decision.reason.value
            self.metrics.decisions.labels(*_labels(outcome.ref), direction, reason).inc()
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
        """Show the report's per-workload gauges; loop health, workload counts,
        and removal of departed workloads' decision counters.

        A follower evaluates nothing, so it exports no per-workload or per-vhost
        view and counts 0 workloads: after losing the Lease, a process must not
        keep serving its last view as if it were current (it would age into a
        "polls stale" alert and double the leader's series on a dashboard).
        """
        self.last_report = report
        self.metrics.per_workload.show(report, self.dry_run)
        self.metrics.leader.set(1 if report.leader else 0)
        self.metrics.cycle_seconds.observe(max(0.0, report.finished_at - report.started_at))
        self.metrics.last_cycle.set(self.wall_clock())
        # The per-vhost last-poll gauge stays a Gauge set at read time: its value
        # is when a read succeeded, which no report holds, and a failing vhost
        # keeps its last success across cycles (QscalerPollsStale needs it).
        read, self._read = self._read, set()  # a follower reads nothing
        self.metrics.workloads.set(len(report.outcomes))
        self.metrics.invalid_bindings.set(sum(1 for o in report.outcomes if o.policy is None))
        self._forget_departed({o.ref for o in report.outcomes})
        for key in self._polled - read:  # no binding reads it any more
            _remove(self.metrics.last_poll, key)
        self._polled &= read
        self.events.flush()
        self._failing = {v: n for v, n in self._failing.items() if v in read}

    def _forget_departed(self, present: set[WorkloadRef]) -> None:
        """A departed workload's decision counters and log runs go with it.

        Reasons and directions are closed vocabularies, so removing every
        pair needs no record of which ones were counted."""
        for ref in self._known - present:
            self._repeats.end(ref)
            for direction in Direction:
                for reason in Reason:
                    _remove(self.metrics.decisions, (*_labels(ref), direction.value, reason.value))
        self._known = present

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
