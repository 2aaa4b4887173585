"""The plan of one cycle: what each workload's outcome will be, before any write.

`plan_cycle` takes everything a cycle has gathered — the workloads with their
HPAs and policies (or binding errors), the vhost views and read errors, the
histories, the writes still awaiting the watch cache, `now`, and whether this
process may write — and returns, per workload, the outcome it will have if no
write is refused: the observation, the decision, the plan, the hold, the new
history. Nothing here reads a clock, calls an API or reports; `ControlLoop`
gathers the inputs, makes the writes this plans and records the outcomes. So a
whole cycle (a bad binding next to a failed vhost next to a duplicate write
suppressed because the cache lags) can be table-tested without a cluster.

The one thing kept across cycles that is not a `History` is our last write
(`Written`): the watch cache lags behind a write (milliseconds, or longer
while the apiserver restarts), so until it shows a new resourceVersion the
plan starts from the count written, not the one cached, and never plans the
same write twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from qscaler.core.actuation import Plan, held_count, plan, plan_release
from qscaler.core.decide import decide
from qscaler.core.model import History, Observation
from qscaler.core.policy import Mode, Policy
from qscaler.core.reasons import Hold, Reason
from qscaler.core.select import QueueMatcher, VhostView, observe
from qscaler.core.workload import Hpa, Workload, WorkloadRef
from qscaler.errors import BindingError
from qscaler.outcome import Outcome
from qscaler.poll import Where


@dataclass(frozen=True, slots=True)
class Bound:
    """A workload of this cycle: its HPA (if one targets it) and its policy or binding error."""

    workload: Workload
    hpa: Hpa | None
    policy: Policy | BindingError


@dataclass(frozen=True, slots=True)
class Reads:
    """What this cycle read from the brokers: a view or an error per (broker, vhost)."""

    views: Mapping[Where, VhostView]
    errors: Mapping[Where, str]
    matcher: Callable[[str], QueueMatcher]  # a broker's pattern matcher, by broker name


@dataclass(frozen=True, slots=True)
class Written:
    """A write, and the resourceVersions (workload, HPA) it was planned from."""

    seen: tuple[str, str]
    plan: Plan


@dataclass(frozen=True, slots=True)
class Kept:
    """What the loop keeps between cycles: a History per decided workload, our last writes.

    `histories` holds one for every workload with a policy (the loop creates
    the missing ones, in one place).
    """

    histories: Mapping[WorkloadRef, History]
    written: Mapping[WorkloadRef, Written]


@dataclass(frozen=True, slots=True)
class Permit:
    """Whether writes may be made: `dry_run` (by setting, or no writer), `leader`."""

    dry_run: bool
    leader: bool


@dataclass(frozen=True, slots=True)
class WorkloadPlan:
    """One workload's outcome-to-be, and what the loop keeps of it.

    `outcome` is the outcome if the write it plans is made (or none is
    needed). `history` is decide's new History (None when nothing was
    decided); `awaiting`, our last write that the cache still lags behind
    (None: the cache has caught up, forget it). `failure` is an unexpected
    error met while planning, which `outcome` reports as `InternalError`.
    """

    outcome: Outcome
    history: History | None = None
    awaiting: Written | None = None
    failure: Exception | None = None

    @property
    def writes(self) -> bool:
        """True when the plan changes the cluster and nothing holds it."""
        planned = self.outcome.plan
        return planned is not None and planned.writes and self.outcome.held is None


@dataclass(frozen=True, slots=True)
class CyclePlan:
    """Every workload's plan, in order, and the HPAs to give back their floor."""

    workloads: tuple[WorkloadPlan, ...]
    releases: tuple[tuple[Hpa, Plan], ...]


def plan_cycle(
    bound: Sequence[Bound],
    hpas: Mapping[WorkloadRef, Hpa],
    reads: Reads,
    kept: Kept,
    now: float,
    permit: Permit,
) -> CyclePlan:
    """The whole cycle's plan: each bound workload's, then the orphaned HPAs' releases."""
    workloads = plan_workloads(bound, reads, kept, now, permit)
    return CyclePlan(workloads, plan_releases(hpas, {b.workload.ref for b in bound}, permit))


def plan_workloads(
    bound: Sequence[Bound], reads: Reads, kept: Kept, now: float, permit: Permit
) -> tuple[WorkloadPlan, ...]:
    """Each workload's plan, independently: one workload's surprise stops no other."""
    return tuple(_plan_one(b, reads, kept, now, permit) for b in bound)


def plan_releases(
    hpas: Mapping[WorkloadRef, Hpa], bound: set[WorkloadRef], permit: Permit
) -> tuple[tuple[Hpa, Plan], ...]:
    """Restore the floor of HPAs whose workload no longer opts in.

    Not in a dry run, and not by a follower: the next leader restores it.
    """
    if permit.dry_run or not permit.leader:
        return ()
    releases = ((hpa, plan_release(hpa)) for target, hpa in hpas.items() if target not in bound)
    return tuple((hpa, release) for hpa, release in releases if release is not None)


def awaiting_cache(written: Written | None, workload: Workload, hpa: Hpa | None) -> Written | None:
    """Our last write, if the cache still shows the state it was planned from."""
    if written is not None and written.seen != versions(workload, hpa):
        return None
    return written


def current_count(awaiting: Written | None, workload: Workload, hpa: Hpa | None) -> int:
    """The count qscaler holds the workload at: the write's while the cache lags behind it."""
    return awaiting.plan.applied if awaiting else held_count(workload, hpa)


def versions(workload: Workload, hpa: Hpa | None) -> tuple[str, str]:
    """The resourceVersions a plan is made from: a later one means the cache caught up."""
    return workload.resource_version, hpa.resource_version if hpa else ""


def unexpected(outcome: Outcome, exc: Exception) -> Outcome:
    """An outcome for an error nobody planned for: the workload and policy, nothing half-done."""
    error, reason = f"unexpected: {exc!r}", Reason.INTERNAL_ERROR
    return Outcome(outcome.workload, outcome.hpa, outcome.policy, error=error, reason=reason)


def _plan_one(b: Bound, reads: Reads, kept: Kept, now: float, permit: Permit) -> WorkloadPlan:
    """A bad binding is reported as such; anything unforeseen becomes `InternalError`."""
    if isinstance(b.policy, BindingError):
        error, reason = str(b.policy), Reason.INVALID_BINDING
        return WorkloadPlan(Outcome(b.workload, b.hpa, error=error, reason=reason))
    try:
        return _decided(b.workload, b.hpa, b.policy, reads, kept, now, permit)
    except Exception as exc:  # one workload's surprise must not stop the others
        outcome = unexpected(Outcome(b.workload, b.hpa, b.policy), exc)
        return WorkloadPlan(outcome, failure=exc)


def _decided(
    workload: Workload,
    hpa: Hpa | None,
    policy: Policy,
    reads: Reads,
    kept: Kept,
    now: float,
    permit: Permit,
) -> WorkloadPlan:
    """Observe, decide and plan one workload, starting from our write if the cache lags."""
    observation = _observation(policy, reads)
    awaiting = awaiting_cache(kept.written.get(workload.ref), workload, hpa)
    current = current_count(awaiting, workload, hpa)
    decision, history = decide(observation, current, policy, kept.histories[workload.ref], now)
    planned = plan(decision.desired, workload, hpa)
    if awaiting is not None and decision.desired == awaiting.plan.desired:
        # Already written; the watch cache has not caught up. Writing the
        # same thing again would be a duplicate, so do not.
        planned = replace(awaiting.plan, replicas=None, hpa_floor=None, restore_hpa=False)
    held = _held(policy, planned, permit)
    outcome = Outcome(
        workload, hpa, policy, observation, decision, planned, held=held, reason=decision.reason
    )
    return WorkloadPlan(outcome, history, awaiting)


def _observation(policy: Policy, reads: Reads) -> Observation:
    """The workload's queues in its vhost's view, or the error that vhost's read met."""
    key = (policy.queues.broker, policy.queues.vhost)
    if key in reads.errors:
        return Observation(queues=(), observed_at=None, error=reads.errors[key])
    return observe(policy.queues, reads.views.get(key), reads.matcher(key[0]))


def _held(policy: Policy, planned: Plan, permit: Permit) -> Hold | None:
    """Why a planned write is not to be made, if it is not: paused, dry run, follower."""
    if not planned.writes:
        return None
    if policy.mode is Mode.PAUSED:
        return Hold.PAUSED
    if permit.dry_run or policy.mode is Mode.DRY_RUN:
        return Hold.DRY_RUN
    if not permit.leader:
        return Hold.NOT_LEADER
    return None
