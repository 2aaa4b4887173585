"""The pure plan of a whole cycle, table-tested: no cluster, no broker, no loop.

One cycle holds every kind of workload at once — a bad binding, a failed
vhost, a dry run, a paused workload, a write the watch cache has not caught up
with, an HPA floor, an HPA that caps — and each row says what that workload's
outcome-to-be is. The same workloads planned by a follower show the
`NotLeader` hold. The policies come from the real binding parser, the
decisions from the real `decide`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from qscaler.core.actuation import Plan
from qscaler.core.binding import ProcessDefaults, parse_binding
from qscaler.core.model import History, QueueSample, VhostSnapshot
from qscaler.core.policy import Policy
from qscaler.core.reasons import Hold, Reason
from qscaler.core.select import QueueMatcher, VhostView
from qscaler.core.workload import Hpa, Workload, WorkloadRef
from qscaler.cycle import (
    Bound,
    CyclePlan,
    Kept,
    Permit,
    Reads,
    WorkloadPlan,
    Written,
    plan_cycle,
    versions,
)
from qscaler.errors import BindingError

NOW = 100.0
DOWN = "vhost down: connection refused"


def ref(name: str) -> WorkloadRef:
    return WorkloadRef("apps", name)


def bind(name: str, replicas: int, hpa: Hpa | None = None, **annotations: str) -> Bound:
    """A workload with the given annotations (on top of 10 per replica, 0..20) and its policy."""
    base = {
        "qscaler.io/messages-per-replica": "10",
        "qscaler.io/min-replicas": "0",
        "qscaler.io/max-replicas": "20",
        "qscaler.io/queues": name,
    }
    base.update({f"qscaler.io/{k.replace('_', '-')}": v for k, v in annotations.items()})
    workload = Workload(ref(name), replicas, replicas, base, resource_version="7")
    try:
        policy: Policy | BindingError = parse_binding(base, ProcessDefaults())
    except BindingError as exc:
        policy = exc
    return Bound(workload, hpa, policy)


def hpa(target: str, low: int, high: int, original: int | None = None) -> Hpa:
    raised = low if original is not None else None
    return Hpa("apps", f"{target}-hpa", ref(target), low, high, original, raised, "3")


def view(depths: Mapping[str, int]) -> VhostView:
    """The vhost `/` as a read at NOW shows it: each queue with one consumer."""
    samples = {n: QueueSample(n, d, 0, 1, None, None) for n, d in depths.items()}
    return VhostView.of(VhostSnapshot("/", {}, NOW), samples)


BOUND = [
    bind("broken", 1, min_replicas="many"),
    bind("cut-off", 2, vhost="down"),
    bind("rehearsal", 1, mode="dry-run"),
    bind("parked", 0, hpa("parked", 3, 8, original=2), mode="paused"),
    bind("lagging", 1),
    bind("caught-up", 1),
    bind("floored", 2, hpa("floored", 2, 8)),
    bind("capped", 1, hpa("capped", 1, 4)),
]
DEPTHS = {"cut-off": 500, "rehearsal": 50, "parked": 90, "lagging": 30, "caught-up": 30}
VIEWS = {("default", "/"): view(DEPTHS | {"floored": 50, "capped": 100})}
READS = Reads(VIEWS, {("default", "down"): DOWN}, lambda broker: QueueMatcher())
HPAS = {
    **{b.workload.ref: b.hpa for b in BOUND if b.hpa is not None},
    ref("departed"): hpa("departed", 6, 10, original=2),
    ref("never-raised"): hpa("never-raised", 2, 10),
}
WRITTEN = {
    # Scaled to 3 in the last cycle; the cache still shows the state before it.
    ref("lagging"): Written(versions(BOUND[4].workload, None), Plan(3, 3, replicas=3)),
    # Scaled to 3 too, but the cache has moved on since (resourceVersion 6 → 7).
    ref("caught-up"): Written(("6", ""), Plan(3, 3, replicas=3)),
}
KEPT = Kept({b.workload.ref: History() for b in BOUND if isinstance(b.policy, Policy)}, WRITTEN)


def cycle(leader: bool = True, dry_run: bool = False) -> CyclePlan:
    return plan_cycle(BOUND, HPAS, READS, KEPT, NOW, Permit(dry_run=dry_run, leader=leader))


def by_name(planned: CyclePlan) -> dict[str, WorkloadPlan]:
    return {step.outcome.ref.name: step for step in planned.workloads}


# name: (reason, current, desired, plan, held as leader, held as follower)
ROWS: dict[str, tuple[Reason, int, int, Plan, Hold | None, Hold | None]] = {
    # The vhost's read failed: hold the count, write nothing.
    "cut-off": (Reason.SOURCE_ERROR, 2, 2, Plan(2, 2), None, None),
    "rehearsal": (Reason.SCALE_UP, 1, 5, Plan(5, 5, replicas=5), Hold.DRY_RUN, Hold.DRY_RUN),
    # Paused at 0 under an HPA that still remembers its floor: the restore is held.
    "parked": (Reason.PAUSED, 0, 0, Plan(0, 0, restore_hpa=True), Hold.PAUSED, Hold.PAUSED),
    # Decided from the count written, not the cached 1; the same write is not made twice.
    "lagging": (Reason.STEADY, 3, 3, Plan(3, 3), None, None),
    # The cache moved on: the plan starts from what it shows.
    "caught-up": (Reason.SCALE_UP, 1, 3, Plan(3, 3, replicas=3), None, Hold.NOT_LEADER),
    "floored": (
        Reason.SCALE_UP,
        2,
        5,
        Plan(5, 5, hpa_floor=5, hpa_original=2),
        None,
        Hold.NOT_LEADER,
    ),
    "capped": (
        Reason.SCALE_UP,
        1,
        10,
        Plan(4, 10, hpa_floor=4, hpa_original=1, capped_by_hpa=True),
        None,
        Hold.NOT_LEADER,
    ),
}


@pytest.mark.parametrize("name", ROWS)
def test_each_workload_of_one_cycle_gets_its_own_plan(name: str) -> None:
    reason, current, desired, planned, held, _ = ROWS[name]
    step = by_name(cycle())[name]
    decision = step.outcome.decision
    assert decision is not None
    assert (decision.reason, decision.current, decision.desired) == (reason, current, desired)
    assert step.outcome.reason is reason
    assert (step.outcome.plan, step.outcome.held) == (planned, held)
    assert step.writes is (planned.writes and held is None)
    assert (step.outcome.written, step.outcome.error, step.failure) == (False, None, None)


@pytest.mark.parametrize("name", ROWS)
def test_a_follower_plans_the_same_and_holds_its_writes(name: str) -> None:
    *_, follower = ROWS[name]
    leading, following = by_name(cycle())[name], by_name(cycle(leader=False))[name]
    assert following.outcome.held is follower
    assert following.outcome.plan == leading.outcome.plan
    assert not following.writes


def test_a_bad_binding_is_reported_and_nothing_is_decided() -> None:
    step = by_name(cycle())["broken"]
    assert step.outcome.reason is Reason.INVALID_BINDING
    assert step.outcome.error is not None
    assert "min-replicas" in step.outcome.error
    assert (step.outcome.decision, step.outcome.plan, step.history) == (None, None, None)


def test_the_failed_vhost_is_the_observation_of_its_workloads_only() -> None:
    steps = by_name(cycle())
    cut_off = steps["cut-off"].outcome.observation
    assert cut_off is not None
    assert (cut_off.error, cut_off.queues) == (DOWN, ())
    others = [s.outcome.observation for n, s in steps.items() if n not in ("cut-off", "broken")]
    assert all(o is not None and o.error is None and len(o.queues) == 1 for o in others)


def test_a_write_is_kept_while_the_cache_lags_and_forgotten_once_it_moved_on() -> None:
    steps = by_name(cycle())
    assert steps["lagging"].awaiting == WRITTEN[ref("lagging")]
    assert steps["caught-up"].awaiting is None


def test_every_decided_workload_gets_a_new_history_from_decide() -> None:
    steps = by_name(cycle())
    decided = {n: s.history for n, s in steps.items() if s.history is not None}
    assert set(decided) == set(ROWS)
    # decide remembered this cycle's recommendation: the history is not the one given.
    assert all(h != History() for h in decided.values())


def test_only_the_orphaned_hpa_that_qscaler_raised_gets_its_floor_back() -> None:
    (release,) = cycle().releases
    hpa_given_back, planned = release
    assert hpa_given_back.target == ref("departed")
    assert planned == Plan(2, 2, restore_hpa=True)


@pytest.mark.parametrize(("leader", "dry_run"), [(False, False), (True, True)])
def test_a_follower_or_a_dry_run_gives_no_floor_back(leader: bool, dry_run: bool) -> None:
    assert cycle(leader=leader, dry_run=dry_run).releases == ()


def test_a_dry_run_holds_every_write_and_changes_no_plan() -> None:
    leading, rehearsing = by_name(cycle()), by_name(cycle(dry_run=True))
    for name, step in rehearsing.items():
        assert step.outcome.plan == leading[name].outcome.plan
        assert not step.writes
    held = {n: s.outcome.held for n, s in rehearsing.items() if s.outcome.held is not None}
    assert held == {
        "rehearsal": Hold.DRY_RUN,
        "parked": Hold.PAUSED,
        "caught-up": Hold.DRY_RUN,
        "floored": Hold.DRY_RUN,
        "capped": Hold.DRY_RUN,
    }


def test_a_surprise_in_one_workload_is_its_internal_error_and_no_one_elses() -> None:
    odd = bind("odd", 1)  # a bug of the caller: no History was given for it
    bound = [odd, *BOUND]
    planned = plan_cycle(bound, HPAS, READS, KEPT, NOW, Permit(dry_run=False, leader=True))
    steps = by_name(planned)
    assert steps["odd"].outcome.reason is Reason.INTERNAL_ERROR
    assert steps["odd"].outcome.error == f"unexpected: {KeyError(ref('odd'))!r}"
    assert isinstance(steps["odd"].failure, KeyError)
    assert (steps["odd"].history, steps["odd"].outcome.plan) == (None, None)
    assert [s.outcome for n, s in steps.items() if n != "odd"] == [
        s.outcome for s in cycle().workloads
    ]
