"""decide(): one table row per reason, and the invariants as properties."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qscaler.core.decide import decide
from qscaler.core.model import Change, Decision, History, Observation, QueueSample
from qscaler.core.policy import Aggregate, CountMode, Mode, Policy, QueueSelector, StepLimit
from qscaler.core.reasons import Reason

NOW = 1000.0


def sample(
    ready: int = 0,
    unacked: int = 0,
    consumers: int = 1,
    publish: float | None = None,
    ack: float | None = None,
    name: str = "q",
) -> QueueSample:
    return QueueSample(name, ready, unacked, consumers, publish, ack)


def seen(*queues: QueueSample, at: float = NOW) -> Observation:
    return Observation(queues=queues, observed_at=at)


def policy(**overrides: object) -> Policy:
    base = Policy(
        queues=QueueSelector(vhost="/", names=("q",)),
        messages_per_replica=10,
        min_replicas=0,
        max_replicas=20,
        cooldown_seconds=300,
        scale_down_limit=None,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


#: A history that has been running long enough that no seeding applies.
WARM = History(started_at=0.0)


def run(
    obs: Observation, current: int, pol: Policy, history: History = WARM, now: float = NOW
) -> Decision:
    return decide(obs, current, pol, history, now)[0]


# (id, observation, current, policy overrides, history, expected desired, expected reason)
CASES = [
    ("scale-up", seen(sample(ready=55)), 2, {}, WARM, 6, Reason.SCALE_UP),
    ("scale-down", seen(sample(ready=15)), 5, {}, WARM, 2, Reason.SCALE_DOWN),
    (
        "scale-from-zero",
        seen(sample(ready=25, consumers=0)),
        0,
        {},
        WARM,
        3,
        Reason.SCALE_FROM_ZERO,
    ),
    ("scale-to-zero", seen(sample()), 2, {}, WARM, 0, Reason.SCALE_TO_ZERO),
    ("steady", seen(sample(ready=30)), 3, {}, WARM, 3, Reason.STEADY),
    ("within-tolerance", seen(sample(ready=105)), 10, {}, WARM, 10, Reason.WITHIN_TOLERANCE),
    (
        "stabilizing-holds-last-high-recommendation",
        seen(sample(ready=10)),
        8,
        {},
        History(started_at=0.0, recommendations=((NOW - 100, 8),)),
        8,
        Reason.STABILIZING,
    ),
    (
        "stabilizing-partially",
        seen(sample(ready=10)),
        8,
        {},
        History(started_at=0.0, recommendations=((NOW - 100, 5),)),
        5,
        Reason.STABILIZING,
    ),
    (
        "scale-up-limited-by-count",
        seen(sample(ready=200)),
        2,
        {"scale_up_limit": StepLimit(replicas=4)},
        WARM,
        6,
        Reason.SCALE_UP_LIMITED,
    ),
    (
        "scale-up-limit-counts-the-last-minute",
        seen(sample(ready=200)),
        6,
        {"scale_up_limit": StepLimit(replicas=4)},
        History(started_at=0.0, changes=(Change(NOW - 30, 2, 6),)),
        6,
        Reason.SCALE_UP_LIMITED,
    ),
    (
        "scale-down-limited-by-percent",
        seen(sample(ready=10)),
        10,
        {"scale_down_limit": StepLimit(percent=50)},
        WARM,
        5,
        Reason.SCALE_DOWN_LIMITED,
    ),
    ("at-max", seen(sample(ready=1000)), 20, {}, WARM, 20, Reason.AT_MAX),
    ("capped-at-max-on-the-way-up", seen(sample(ready=1000)), 5, {}, WARM, 20, Reason.AT_MAX),
    ("at-min", seen(sample()), 2, {"min_replicas": 2}, WARM, 2, Reason.AT_MIN),
    (
        "below-activation-stays-at-zero",
        seen(sample(ready=4, consumers=0)),
        0,
        {"activation_messages": 5},
        WARM,
        0,
        Reason.BELOW_ACTIVATION,
    ),
    (
        "in-flight-keeps-one",
        seen(sample(ready=0, unacked=3)),
        1,
        {"count": CountMode.READY},
        WARM,
        1,
        Reason.IN_FLIGHT,
    ),
    (
        "source-error-holds",
        Observation((), NOW, error="connection refused"),
        5,
        {},
        WARM,
        5,
        Reason.SOURCE_ERROR,
    ),
    ("stale-holds", seen(sample(), at=NOW - 61), 5, {}, WARM, 5, Reason.SOURCE_STALE),
    ("never-read-holds", Observation((), None), 5, {}, WARM, 5, Reason.SOURCE_STALE),
    (
        "missing-queue-holds",
        Observation((sample(),), NOW, missing=("gone",)),
        5,
        {},
        WARM,
        5,
        Reason.QUEUE_MISSING,
    ),
    (
        "no-queue-matched-holds",
        Observation((), NOW),
        5,
        {},
        WARM,
        5,
        Reason.QUEUE_MISSING,
    ),
    (
        "fallback-after-failures",
        Observation((), NOW, error="timeout"),
        2,
        {"fallback_replicas": 6, "fallback_after_failures": 3},
        History(started_at=0.0, failures=2),
        6,
        Reason.FALLBACK,
    ),
    (
        "fallback-never-lowers",
        Observation((), NOW, error="timeout"),
        9,
        {"fallback_replicas": 6, "fallback_after_failures": 1},
        WARM,
        9,
        Reason.SOURCE_ERROR,
    ),
    ("paused-holds", seen(sample(ready=500)), 3, {"mode": Mode.PAUSED}, WARM, 3, Reason.PAUSED),
]


@pytest.mark.parametrize(
    ("observation", "current", "overrides", "history", "desired", "reason"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_every_reason(
    observation: Observation,
    current: int,
    overrides: dict[str, object],
    history: History,
    desired: int,
    reason: Reason,
) -> None:
    decision = run(observation, current, policy(**overrides), history)
    assert (decision.desired, decision.reason) == (desired, reason), decision.message
    assert decision.message


def test_every_decide_reason_has_a_table_row() -> None:
    reported_elsewhere = {Reason.INVALID_BINDING, Reason.WRITE_FAILED}
    assert {c[-1] for c in CASES} == set(Reason) - reported_elsewhere


def test_count_ready_ignores_unacknowledged() -> None:
    obs = seen(sample(ready=20, unacked=80))
    assert run(obs, 1, policy(count=CountMode.READY)).desired == 2
    assert run(obs, 1, policy(count=CountMode.ALL)).desired == 10


def test_aggregate_max_takes_the_deepest_queue() -> None:
    obs = seen(sample(ready=30, name="a"), sample(ready=50, name="b"))
    assert run(obs, 1, policy(aggregate=Aggregate.SUM)).desired == 8
    assert run(obs, 1, policy(aggregate=Aggregate.MAX)).desired == 5


def test_a_fresh_history_waits_a_cooldown_before_scaling_down() -> None:
    """A restarted qscaler must not scale everything down in its first cycle."""
    pol = policy()
    decision, history = decide(seen(sample()), 8, pol, History(), NOW)
    assert (decision.desired, decision.reason) == (8, Reason.STABILIZING)
    later, _ = decide(seen(sample(), at=NOW + 301), 8, pol, history, NOW + 301)
    assert later.desired == 0


def test_the_window_forgets_old_recommendations() -> None:
    history = History(started_at=0.0, recommendations=((NOW - 301, 8),))
    assert run(seen(sample(ready=10)), 8, policy(), history).desired == 1


def test_rate_aware_sizes_for_publish_rate_and_drain() -> None:
    pol = policy(messages_per_replica=None, target_drain_seconds=60)
    # 10/s per replica learned from a saturated queue (ready > 0): 50/s arriving
    # needs 5, a backlog of 600 drained in 60 s needs 1 more.
    obs = seen(sample(ready=600, consumers=2, publish=50, ack=20))
    decision = run(obs, 2, pol)
    assert decision.throughput == pytest.approx(10)
    assert decision.desired == 6


def test_rate_aware_learns_only_upward_when_not_saturated() -> None:
    pol = policy(messages_per_replica=None, target_drain_seconds=60)
    history = replace(WARM, throughput=10.0)
    idle_consumers = seen(sample(ready=0, consumers=4, publish=8, ack=8))
    decision, new = decide(idle_consumers, 4, pol, history, NOW)
    assert new.throughput == 10.0  # 2/s per consumer is a lower bound: ignored
    assert decision.recommended == 1


def test_rate_aware_without_throughput_keeps_at_least_one() -> None:
    pol = policy(messages_per_replica=None, target_drain_seconds=60)
    decision = run(seen(sample(ready=100, consumers=0)), 0, pol)
    assert decision.desired == 1


def test_rate_aware_idle_queue_without_throughput_scales_to_zero() -> None:
    pol = policy(messages_per_replica=None, target_drain_seconds=60, cooldown_seconds=0)
    decision = run(seen(sample(ready=0, consumers=1, publish=0, ack=0)), 1, pol)
    assert (decision.desired, decision.reason) == (0, Reason.SCALE_TO_ZERO)


def test_messages_per_replica_is_a_floor_in_rate_aware_mode() -> None:
    pol = policy(messages_per_replica=100, target_drain_seconds=600)
    obs = seen(sample(ready=1000, consumers=1, publish=0, ack=100))
    assert run(obs, 1, pol).desired == 10


def test_history_records_changes_and_recommendations() -> None:
    decision, history = decide(seen(sample(ready=55)), 2, policy(), WARM, NOW)
    assert history.changes == (Change(NOW, 2, 6),)
    assert history.recommendations[-1] == (NOW, 6)
    assert decision.recommended == 6


def test_untrusted_data_counts_failures_and_good_data_resets_them() -> None:
    _, history = decide(Observation((), NOW, error="x"), 3, policy(), WARM, NOW)
    assert history.failures == 1
    _, history = decide(seen(sample(ready=30)), 3, policy(), history, NOW + 5)
    assert history.failures == 0


# --- properties ---------------------------------------------------------------

samples_st = st.builds(
    sample,
    ready=st.integers(0, 10**7),
    unacked=st.integers(0, 10**5),
    consumers=st.integers(0, 100),
    publish=st.none() | st.floats(0, 1e5),
    ack=st.none() | st.floats(0, 1e5),
)
limits_st = (
    st.none()
    | st.builds(StepLimit, replicas=st.integers(1, 10))
    | st.builds(StepLimit, percent=st.floats(1, 100))
)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    low = draw(st.integers(0, 10))
    high = draw(st.integers(max(low, 1), 50))
    rate_aware = draw(st.booleans())
    return policy(
        min_replicas=low,
        max_replicas=high,
        messages_per_replica=draw(st.floats(0.5, 1000))
        if not rate_aware or draw(st.booleans())
        else None,
        target_drain_seconds=draw(st.floats(1, 600)) if rate_aware else None,
        cooldown_seconds=draw(st.floats(0, 600)),
        activation_messages=draw(st.floats(0, 100)),
        scale_up_limit=draw(limits_st),
        scale_down_limit=draw(limits_st),
        count=draw(st.sampled_from(CountMode)),
        aggregate=draw(st.sampled_from(Aggregate)),
    )


observations_st = st.one_of(
    st.builds(lambda qs: seen(*qs), st.lists(samples_st, min_size=1, max_size=4)),
    st.just(Observation((), NOW, error="boom")),
    st.just(Observation((), NOW - 3600)),
    st.just(Observation((), None)),
    st.builds(lambda s: Observation((s,), NOW, missing=("x",)), samples_st),
)


@settings(max_examples=400)
@given(observations_st, st.integers(0, 60), policies())
def test_desired_stays_within_bounds_unless_holding_untrusted(
    obs: Observation, current: int, pol: Policy
) -> None:
    decision = run(obs, current, pol)
    if decision.reason in (Reason.SOURCE_ERROR, Reason.SOURCE_STALE, Reason.QUEUE_MISSING):
        assert decision.desired == max(current, pol.min_replicas)
    else:
        assert pol.min_replicas <= decision.desired <= pol.max_replicas


@settings(max_examples=300)
@given(st.integers(0, 60), policies(), st.sampled_from(["error", "stale", "missing", "none"]))
def test_untrusted_data_never_scales_down(current: int, pol: Policy, kind: str) -> None:
    obs = {
        "error": Observation((), NOW, error="boom"),
        "stale": seen(sample(), at=NOW - 10_000),
        "missing": Observation((sample(),), NOW, missing=("gone",)),
        "none": Observation((), NOW),
    }[kind]
    pol = replace(pol, fallback_after_failures=1)
    assert run(obs, current, pol).desired >= current


@settings(max_examples=200)
@given(st.lists(samples_st, min_size=8, max_size=8), policies(), st.integers(1, 30))
def test_no_reversal_inside_the_stabilization_window(
    feed: list[QueueSample], pol: Policy, start: int
) -> None:
    """After a scale-up, no scale-down below it until the window has passed."""
    pol = replace(pol, cooldown_seconds=300.0, scale_down_limit=None)
    history, current, t = WARM, start, NOW
    up_at: tuple[float, int] | None = None
    for s in feed:
        decision, history = decide(seen(s, at=t), current, pol, history, t)
        if decision.desired > current:
            up_at = (t, decision.desired)
        elif up_at is not None and t - up_at[0] < pol.cooldown_seconds:
            assert decision.desired >= min(up_at[1], current)
        current, t = decision.desired, t + 20


@settings(max_examples=200)
@given(observations_st, st.integers(0, 60), policies())
def test_decide_is_deterministic(obs: Observation, current: int, pol: Policy) -> None:
    assert decide(obs, current, pol, WARM, NOW) == decide(obs, current, pol, WARM, NOW)
