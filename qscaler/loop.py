"""The control loop: observe → decide → act → record, once per poll.

One `Controller.cycle()` reads the bindings from the cluster view (a watch
cache: no API reads), polls each vhost once for all its bindings, smooths the
rates, decides every workload with the pure `decide`, plans the writes and,
when this process leads, makes them. `qscaler run`, `qscaler plan`,
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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from qscaler.core.actuation import Plan, held_count, hpas_by_target, plan, plan_release
from qscaler.core.binding import ProcessDefaults, parse_binding
from qscaler.core.decide import decide
from qscaler.core.model import History, Observation, VhostSnapshot
from qscaler.core.policy import Mode, Policy
from qscaler.core.rates import RateSmoother
from qscaler.core.reasons import Reason
from qscaler.core.select import QueueMatcher, VhostView, observe, raise_ready
from qscaler.core.wake import Ready, Sleeper, sleeper
from qscaler.core.workload import Hpa, Workload, WorkloadRef
from qscaler.errors import BindingError, KubeError, KubeNotFound, SourceError
from qscaler.outcome import CycleReport, Outcome
from qscaler.sources import QueueSource, VhostRequest

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
        """Write; raises `KubeError` on failure."""
        ...

    def release(self, hpa: Hpa, plan: Plan) -> None:
        """Restore an HPA whose workload left; raises `KubeError` on failure."""
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

    def source_read(self, vhost: str, error: SourceError | None, at: float) -> None:
        """Report one vhost read."""
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


class Controller:
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
    ) -> None:
        self.cluster = cluster
        self.source = source
        self.writer = writer
        self.recorder = recorder
        self.clock = clock
        self.leadership = leadership or AlwaysLeader()
        self.config = config or LoopConfig()
        self.smoother = RateSmoother(self.config.rate_smoothing_seconds)
        # Pattern budgets are real seconds whatever `clock` is (the simulator's is not).
        self.matcher = QueueMatcher(clock=time.monotonic)
        self.histories: dict[WorkloadRef, History] = {}
        self._policies: dict[WorkloadRef, tuple[object, Policy | BindingError]] = {}
        self._written: dict[WorkloadRef, _Written] = {}
        self._views: dict[str, VhostView] = {}  # the last cycle's, for `wake`
        self._lock = threading.Lock()  # cycle vs wake: see the module docstring

    def cycle(self) -> CycleReport:
        """One pass over every bound workload."""
        started = self.clock()
        leader = self.leadership.is_leader()
        with self._lock:
            workloads = self._workloads()
            hpas, ambiguous = hpas_by_target(self.cluster.hpas())
            if not leader:
                report = CycleReport(started, self.clock(), leader=False)
                self.recorder.cycle(report)
                return report
            bindings = [(w, ambiguous.get(w.ref) or self._policy(w)) for w in workloads]
        views, errors = self._read_queues([p for _, p in bindings if isinstance(p, Policy)])
        with self._lock:
            self._views = views
            now = self.clock()
            outcomes = [self._one(w, hpas.get(w.ref), p, views, errors, now) for w, p in bindings]
            self._release_orphans({w.ref for w in workloads}, hpas)
            self._forget({w.ref for w in workloads})
            report = CycleReport(started, self.clock(), True, tuple(outcomes), errors)
            self.recorder.cycle(report)
        return report

    def _workloads(self) -> list[Workload]:
        return sorted(self.cluster.workloads(), key=lambda w: w.ref)

    # --- the activation fast path ---

    def sleepers(self) -> list[Sleeper]:
        """Workloads held at 0 replicas that an activation probe may wake (none
        for a follower). Reads the cluster view: no API call."""
        if not self.leadership.is_leader():
            return []
        found = []
        with self._lock:
            hpas, ambiguous = hpas_by_target(self.cluster.hpas())
            for workload in self.cluster.workloads():
                policy = ambiguous.get(workload.ref) or self._policy(workload)
                if isinstance(policy, BindingError):
                    continue
                _, current = self._current(workload, hpas.get(workload.ref))
                one = sleeper(workload.ref, policy, current)
                if one is not None:
                    found.append(one)
        return found

    def wake(self, refs: Sequence[WorkloadRef], ready: Ready) -> list[Outcome]:
        """Decide and act for `refs` now, before the next cycle.

        Each is observed from the last cycle's view of its vhost with `ready`
        (a probe's real-time counts) raised in, never lowered; the rest of the
        cycle's work (other workloads, vhost reads, cycle report) waits for the
        next cycle. A workload whose vhost the last cycle could not read is
        left to the next cycle too.
        """
        wanted = set(refs)
        outcomes = []
        with self._lock:
            hpas, ambiguous = hpas_by_target(self.cluster.hpas())
            now = self.clock()
            for workload in self._workloads():
                policy = ambiguous.get(workload.ref) or self._policy(workload)
                if workload.ref not in wanted or isinstance(policy, BindingError):
                    continue
                vhost = policy.queues.vhost
                view = self._views.get(vhost)
                if view is None:
                    continue
                views = {vhost: raise_ready(view, ready.get(vhost, {}))}
                hpa = hpas.get(workload.ref)
                outcomes.append(self._one(workload, hpa, policy, views, {}, now))
        return outcomes

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

    def _read_queues(
        self, policies: Sequence[Policy]
    ) -> tuple[dict[str, VhostView], dict[str, str]]:
        views: dict[str, VhostView] = {}
        errors: dict[str, str] = {}
        for request in _requests(policies):
            try:
                snapshot = self._read(request)
            except SourceError as exc:
                errors[request.vhost] = str(exc)
                self.recorder.source_read(request.vhost, exc, self.clock())
                continue
            self.recorder.source_read(request.vhost, None, snapshot.read_at)
            views[request.vhost] = VhostView.of(snapshot, self.smoother.smooth(snapshot))
        return views, errors

    def _read(self, request: VhostRequest) -> VhostSnapshot:
        """Read one vhost; a source's unexpected exception fails that vhost only."""
        try:
            return self.source.read(request)
        except SourceError:
            raise
        except Exception as exc:  # a bug in a source must not stop the other vhosts
            log.exception("unexpected error reading vhost %r", request.vhost)
            raise SourceError(
                f"unexpected {type(exc).__name__} while reading vhost {request.vhost!r} "
                "(logged with its traceback)"
            ) from exc

    # --- decide and act ---

    def _one(
        self,
        workload: Workload,
        hpa: Hpa | None,
        policy: Policy | BindingError,
        views: Mapping[str, VhostView],
        errors: Mapping[str, str],
        now: float,
    ) -> Outcome:
        if isinstance(policy, BindingError):
            outcome = Outcome(workload, hpa, error=str(policy), reason=Reason.INVALID_BINDING)
        else:
            try:
                outcome = self._decide_and_act(workload, hpa, policy, views, errors, now)
            except Exception as exc:  # one workload's surprise must not stop the others
                log.exception("unexpected error for %s", workload.ref)
                outcome = Outcome(workload, hpa, policy, error=f"unexpected: {exc!r}")
        self.recorder.outcome(outcome)
        return outcome

    def _decide_and_act(
        self,
        workload: Workload,
        hpa: Hpa | None,
        policy: Policy,
        views: Mapping[str, VhostView],
        errors: Mapping[str, str],
        now: float,
    ) -> Outcome:
        vhost = policy.queues.vhost
        if vhost in errors:
            observation = Observation(queues=(), observed_at=None, error=errors[vhost])
        else:
            observation = observe(policy.queues, views.get(vhost), self.matcher)
        written, current = self._current(workload, hpa)
        history = self.histories.get(workload.ref, History())
        decision, self.histories[workload.ref] = decide(observation, current, policy, history, now)
        planned = plan(decision.desired, workload, hpa)
        if written is not None and decision.desired == written.plan.desired:
            # Already written; the watch cache has not caught up (it lags by
            # milliseconds, or longer while the apiserver restarts). Writing
            # the same thing again would be a duplicate, so do not.
            planned = replace(written.plan, replicas=None, hpa_floor=None, restore_hpa=False)
        held = self._held(policy, planned)
        outcome = Outcome(
            workload, hpa, policy, observation, decision, planned, held=held, reason=decision.reason
        )
        if held is not None or not planned.writes:
            return outcome
        return self._write(outcome, workload, hpa, planned)

    def _held(self, policy: Policy, planned: Plan) -> str | None:
        if not planned.writes:
            return None
        if policy.mode is Mode.PAUSED:
            return "paused"
        if self.config.dry_run or policy.mode is Mode.DRY_RUN or self.writer is None:
            return "dry_run"
        if not self.leadership.is_leader():  # checked again right before writing
            return "not_leader"
        return None

    def _write(
        self, outcome: Outcome, workload: Workload, hpa: Hpa | None, planned: Plan
    ) -> Outcome:
        assert self.writer is not None
        try:
            self.writer.apply(workload, hpa, planned)
        except KubeNotFound as exc:
            log.info("%s went away before the write: %s", workload.ref, exc)
            self.histories.pop(workload.ref, None)
            return replace(outcome, error=str(exc), reason=Reason.WRITE_FAILED)
        except KubeError as exc:
            return replace(outcome, error=str(exc), reason=Reason.WRITE_FAILED)
        self._written[workload.ref] = _Written(_versions(workload, hpa), planned)
        return replace(outcome, written=True)

    def _current(self, workload: Workload, hpa: Hpa | None) -> tuple[_Written | None, int]:
        """Our last write still awaiting the cache, if any, and the replica count
        qscaler holds the workload at: the write's when the cache lags behind it."""
        written = self._awaiting_cache(workload, hpa)
        return written, written.plan.applied if written else held_count(workload, hpa)

    def _awaiting_cache(self, workload: Workload, hpa: Hpa | None) -> _Written | None:
        """Our last write, if the cache still shows the state it was planned from."""
        written = self._written.get(workload.ref)
        if written is not None and written.seen != _versions(workload, hpa):
            del self._written[workload.ref]
            return None
        return written

    # --- housekeeping ---

    def _release_orphans(self, bound: set[WorkloadRef], hpas: Mapping[WorkloadRef, Hpa]) -> None:
        """Restore the floor of HPAs whose workload no longer opts in."""
        if self.writer is None or self.config.dry_run:
            return
        for target, hpa in hpas.items():
            release = plan_release(hpa)
            if target in bound or release is None or not self.leadership.is_leader():
                continue
            try:
                self.writer.release(hpa, release)
                log.info(
                    "restored minReplicas %s on HPA %s/%s", release.applied, hpa.namespace, hpa.name
                )
            except KubeError as exc:
                log.warning("could not restore HPA %s/%s: %s", hpa.namespace, hpa.name, exc)

    def _forget(self, present: set[WorkloadRef]) -> None:
        for ref in [r for r in self.histories if r not in present]:
            del self.histories[ref]
        for ref in [r for r in self._policies if r not in present]:
            del self._policies[ref]
        for ref in [r for r in self._written if r not in present]:
            del self._written[ref]
        self.matcher.keep_only(
            {
                (policy.queues.vhost, pattern.pattern)
                for _, policy in self._policies.values()
                if isinstance(policy, Policy)
                for pattern in policy.queues.patterns
            }
        )


@dataclass(frozen=True, slots=True)
class _Written:
    """A write, and the resourceVersions (workload, HPA) it was planned from."""

    seen: tuple[str, str]
    plan: Plan


def _versions(workload: Workload, hpa: Hpa | None) -> tuple[str, str]:
    return workload.resource_version, hpa.resource_version if hpa else ""


def _requests(policies: Sequence[Policy]) -> list[VhostRequest]:
    """One request per vhost covering every binding of that vhost."""
    names: dict[str, set[str]] = {}
    listing: dict[str, bool] = {}
    for policy in policies:
        vhost = policy.queues.vhost
        names.setdefault(vhost, set()).update(policy.queues.names)
        listing[vhost] = listing.get(vhost, False) or bool(policy.queues.patterns)
    return [
        VhostRequest(vhost=v, names=frozenset(names[v]), listing=listing[v]) for v in sorted(names)
    ]
