"""The control loop: observe → decide → act → record, once per poll.

One `ControlLoop.cycle()` reads the bindings from the cluster view (a watch
cache: no API reads), polls each vhost once for all its bindings, smooths the
rates, and hands all of it to the pure `qscaler.cycle.plan_cycle`, which
observes, decides, plans and holds every workload. The loop then carries the
plan out: when this process still leads, it makes the writes (a `KubeError`
or `NotLeader` affects only that write), keeps the new histories and records
every outcome. `qscaler run`, `qscaler plan`,
`qscaler demo` and the simulator all drive this same class; only the adapters
behind the protocols differ.

`wake` decides at once the workloads an activation probe (`qscaler.probe`,
on a thread of its own) found above their threshold while at 0 replicas, from
the last cycle's views with the probe's real-time ready counts raised in. It
may run while a cycle reads the broker (the slow part of a cycle at
thousands of queues), never while a cycle decides: one lock covers deciding,
acting and recording.

Failure isolation is the rule: a bad annotation, a failed vhost read or a
refused write affects the workloads concerned and nothing else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from qscaler.core.actuation import Plan, hpas_by_target
from qscaler.core.binding import ProcessDefaults, parse_binding
from qscaler.core.defaults import DEFAULT_BROKER
from qscaler.core.model import History
from qscaler.core.policy import Policy
from qscaler.core.reasons import Hold, Reason
from qscaler.core.select import VhostView, raise_ready
from qscaler.core.wake import Ready, Sleeper, sleeper
from qscaler.core.workload import Hpa, Workload, WorkloadRef
from qscaler.cycle import (
    Bound,
    Kept,
    Permit,
    Reads,
    WorkloadPlan,
    Written,
    awaiting_cache,
    current_count,
    plan_cycle,
    plan_workloads,
    unexpected,
    versions,
)
from qscaler.errors import BindingError, KubeError, KubeNotFound, NotLeader, SourceError
from qscaler.forecast_memory import ForecastMemory, Remembering
from qscaler.outcome import CycleReport, Outcome
from qscaler.poll import BrokerReader, Where, where
from qscaler.sources import QueueSource

log = logging.getLogger("qscaler.loop")


class ClusterView(Protocol):
    """The workloads and HPAs qscaler sees, from a cache kept warm elsewhere."""

    def workloads(self) -> Sequence[Workload]:
        """Every workload that carries the opt-in label."""
        ...

    def hpas(self) -> Sequence[Hpa]:
        """Every autoscaling/v2 HPA in the watched namespaces."""
        ...


class ScaleWriter(Protocol):
    """Makes the writes a `Plan` asks for."""

    def apply(self, workload: Workload, hpa: Hpa | None, plan: Plan) -> None:
        """Write; raises `KubeError` on failure, `NotLeader` when the Lease ran out."""
        ...

    def release(self, hpa: Hpa, plan: Plan) -> None:
        """Restore an HPA whose workload left; raises as `apply` does."""
        ...


class Leadership(Protocol):
    """Whether this process may write right now."""

    def is_leader(self) -> bool:
        """True while the lease is held and fresh."""
        ...


class Recorder(Protocol):
    """Reports outcomes: metrics, Events, logs, /status."""

    def outcome(self, outcome: Outcome) -> None:
        """Report one workload's outcome of this cycle."""
        ...

    def source_read(
        self, vhost: str, error: SourceError | None, at: float, broker: str = DEFAULT_BROKER
    ) -> None:
        """Report one vhost read (of `broker`)."""
        ...

    def cycle(self, report: CycleReport) -> None:
        """Report a finished cycle."""
        ...


class AlwaysLeader:
    """Leadership for a single process that needs no election (plan, demo, tests)."""

    def is_leader(self) -> bool:
        """Always True."""
        return True


@dataclass(frozen=True, slots=True)
class LoopConfig:
    """What the loop needs from the settings."""

    defaults: ProcessDefaults = field(default_factory=ProcessDefaults)
    rate_smoothing_seconds: float = 15.0
    dry_run: bool = False


class ControlLoop:
    """Runs cycles; holds the per-workload histories between them."""

    def __init__(
        self,
        cluster: ClusterView,
        source: QueueSource,
        writer: ScaleWriter | None,
        recorder: Recorder,
        clock: Callable[[], float],
        leadership: Leadership | None = None,
        config: LoopConfig | None = None,
        brokers: Mapping[str, QueueSource] | None = None,
        memory: ForecastMemory | None = None,
    ) -> None:
        """`source` reads the default broker; `brokers`, the named ones (by name);
        `memory` keeps what the forecast learned beyond this process."""
        self.cluster = cluster
        self.writer = writer
        self.recorder = recorder
        self.clock = clock
        self.leadership = leadership or AlwaysLeader()
        self.config = config or LoopConfig()
        self.reader = BrokerReader(
            {DEFAULT_BROKER: source, **(brokers or {})}, self.config.rate_smoothing_seconds, clock
        )
        self.histories: dict[WorkloadRef, History] = {}
        self.remembering = Remembering(memory)
        self._policies: dict[WorkloadRef, tuple[object, Policy | BindingError]] = {}
        self._written: dict[WorkloadRef, Written] = {}
        self._views: dict[Where, VhostView] = {}  # the last cycle's, for `wake`
        self._lock = threading.Lock()  # cycle vs wake: see the module docstring

    def cycle(self) -> CycleReport:
        """One pass over every bound workload: read, plan (pure), write, record."""
        started = self.clock()
        leader = self.leadership.is_leader()
        self.remembering.leading(leader)
        with self._lock:
            workloads = self._workloads()
            hpas, ambiguous = hpas_by_target(self.cluster.hpas())
            if not leader:
                report = CycleReport(started, self.clock(), leader=False)
                self.recorder.cycle(report)
                return report
            bound = [
                Bound(w, hpas.get(w.ref), ambiguous.get(w.ref) or self._policy(w))
                for w in workloads
            ]
        views, errors = self.reader.read(
            [b.policy for b in bound if isinstance(b.policy, Policy)], self._source_read
        )
        with self._lock:
            self._views = views
            reads = Reads(views, errors, self.reader.matcher)
            planned = plan_cycle(
                bound, hpas, reads, self._kept(bound), self.clock(), self._permit()
            )
            outcomes = [self._execute(step) for step in planned.workloads]
            self._release(planned.releases)
            self._forget({w.ref for w in workloads})
            shown = {where(key): error for key, error in errors.items()}
            report = CycleReport(started, self.clock(), True, tuple(outcomes), shown)
            self.recorder.cycle(report)
            histories = dict(self.histories)
        self.remembering.keep(histories)
        return report

    def save_memory(self) -> None:
        """Save what the forecast learned since the last save, now: called once
        the cycles have stopped, before the Lease is released, so that what was
        learned since the store's last periodic write reaches the next leader."""
        with self._lock:
            histories = dict(self.histories)
        self.remembering.flush(histories)

    def _workloads(self) -> list[Workload]:
        return sorted(self.cluster.workloads(), key=lambda w: w.ref)

    # --- the activation fast path ---

    def sleepers(self, broker: str = DEFAULT_BROKER) -> list[Sleeper]:
        """Workloads of `broker` held at 0 replicas that its activation probe may
        wake (none for a follower). Reads the cluster view: no API call."""
        if not self.leadership.is_leader():
            return []
        found = []
        with self._lock:
            hpas, ambiguous = hpas_by_target(self.cluster.hpas())
            for workload in self.cluster.workloads():
                policy = ambiguous.get(workload.ref) or self._policy(workload)
                if isinstance(policy, BindingError) or policy.queues.broker != broker:
                    continue
                current = self._current(workload, hpas.get(workload.ref))
                one = sleeper(workload.ref, policy, current)
                if one is not None:
                    found.append(one)
        return found

    def wake(
        self, refs: Sequence[WorkloadRef], ready: Ready, broker: str = DEFAULT_BROKER
    ) -> list[Outcome]:
        """Decide and act for `refs` now, before the next cycle.

        Each is observed from the last cycle's view of its vhost with `ready`
        (the real-time counts of `broker`'s probe) raised in, never lowered; the rest of the
        cycle's work (other workloads, vhost reads, cycle report) waits for the
        next cycle. A workload whose vhost the last cycle could not read is
        left to the next cycle too.
        """
        wanted = set(refs)
        with self._lock:
            hpas, ambiguous = hpas_by_target(self.cluster.hpas())
            now = self.clock()
            bound, views = [], {}
            for workload in self._workloads():
                policy = ambiguous.get(workload.ref) or self._policy(workload)
                if workload.ref not in wanted or isinstance(policy, BindingError):
                    continue
                key = (policy.queues.broker, policy.queues.vhost)
                view = self._views.get(key)
                if key[0] != broker or view is None:
                    continue
                views[key] = raise_ready(view, ready.get(key[1], {}))
                bound.append(Bound(workload, hpas.get(workload.ref), policy))
            reads = Reads(views, {}, self.reader.matcher)
            planned = plan_workloads(bound, reads, self._kept(bound), now, self._permit())
            return [self._execute(step) for step in planned]

    # --- bindings ---

    def _policy(self, workload: Workload) -> Policy | BindingError:
        key = tuple(sorted(workload.annotations.items()))
        cached = self._policies.get(workload.ref)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            result: Policy | BindingError = parse_binding(
                workload.annotations, self.config.defaults
            )
        except BindingError as exc:
            result = exc
        self._policies[workload.ref] = (key, result)
        return result

    # --- observe ---

    def _source_read(self, broker: str, vhost: str, error: SourceError | None, at: float) -> None:
        self.recorder.source_read(vhost, error, at, broker=broker)

    # --- plan ---

    def _kept(self, bound: Sequence[Bound]) -> Kept:
        """The histories and last writes the plan starts from."""
        histories = {
            b.workload.ref: self._history(b.workload.ref)
            for b in bound
            if isinstance(b.policy, Policy)
        }
        return Kept(histories, self._written)

    def _history(self, ref: WorkloadRef) -> History:
        """A workload's History: the one place one is created (at its first decision),
        from what the forecast memory kept of it, if anything (`Remembering.history`)."""
        return self.remembering.history(self.histories, ref)

    def _permit(self) -> Permit:
        """Whether this cycle's plan may write: leadership is checked again after the reads."""
        dry_run = self.config.dry_run or self.writer is None
        return Permit(dry_run=dry_run, leader=self.leadership.is_leader())

    def _current(self, workload: Workload, hpa: Hpa | None) -> int:
        """The count qscaler holds the workload at; forgets a write the cache caught up with."""
        awaiting = self._awaited(
            workload.ref, awaiting_cache(self._written.get(workload.ref), workload, hpa)
        )
        return current_count(awaiting, workload, hpa)

    def _awaited(self, ref: WorkloadRef, awaiting: Written | None) -> Written | None:
        """Keep our last write only while the cache still lags behind it."""
        if awaiting is None:
            self._written.pop(ref, None)
        return awaiting

    # --- execute ---

    def _execute(self, step: WorkloadPlan) -> Outcome:
        """Keep what the plan learnt, make the write it plans, record the outcome."""
        outcome = step.outcome
        if step.failure is not None:
            log.error("unexpected error for %s", outcome.ref, exc_info=step.failure)
        if step.history is not None:
            self.histories[outcome.ref] = step.history
            self._awaited(outcome.ref, step.awaiting)
        if step.writes:
            try:
                outcome = self._write(outcome)
            except Exception as exc:  # one workload's surprise must not stop the others
                log.exception("unexpected error for %s", outcome.ref)
                outcome = unexpected(outcome, exc)
        self.recorder.outcome(outcome)
        return outcome

    def _write(self, outcome: Outcome) -> Outcome:
        """Write a planned change, unless the Lease ran out since the plan (checked again)."""
        workload, hpa, planned = outcome.workload, outcome.hpa, outcome.plan
        assert self.writer is not None
        assert planned is not None
        if not self.leadership.is_leader():
            return replace(outcome, held=Hold.NOT_LEADER)
        try:
            self.writer.apply(workload, hpa, planned)
        except KubeNotFound as exc:
            log.info("%s went away before the write: %s", workload.ref, exc)
            self.histories.pop(workload.ref, None)
            return replace(outcome, error=str(exc), reason=Reason.WRITE_FAILED)
        except KubeError as exc:
            return replace(outcome, error=str(exc), reason=Reason.WRITE_FAILED)
        except NotLeader:  # the Lease ran out between planning and writing
            return replace(outcome, held=Hold.NOT_LEADER)
        self._written[workload.ref] = Written(versions(workload, hpa), planned)
        return replace(outcome, written=True)

    def _release(self, releases: Sequence[tuple[Hpa, Plan]]) -> None:
        """Give orphaned HPAs their floor back, while this process still leads."""
        for hpa, release in releases:
            if self.writer is None or not self.leadership.is_leader():
                continue
            try:
                self.writer.release(hpa, release)
                log.info(
                    "restored minReplicas %s on HPA %s/%s", release.applied, hpa.namespace, hpa.name
                )
            except (KubeError, NotLeader) as exc:  # NotLeader: the next leader restores it
                log.warning("could not restore HPA %s/%s: %s", hpa.namespace, hpa.name, exc)

    # --- housekeeping ---

    def _forget(self, present: set[WorkloadRef]) -> None:
        for ref in [r for r in self.histories if r not in present]:
            del self.histories[ref]
        for ref in [r for r in self._policies if r not in present]:
            del self._policies[ref]
        for ref in [r for r in self._written if r not in present]:
            del self._written[ref]
        self.reader.keep_only([p for _, p in self._policies.values() if isinstance(p, Policy)])
