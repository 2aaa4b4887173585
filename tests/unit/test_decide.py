"""decide(): one table row per reason, and the invariants as properties."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qscaler.core.decide import decide
from qscaler.core.model import Change, Decision, History, Observation, QueueSample
from qscaler.core.policy import Aggregate, CountMode, Mode, Policy, QueueSelector, StepLimit
from qscaler.core.rate_aware_state import RateAwareState, Reading, Starting
from qscaler.core.reasons import UNTRUSTED_DATA, Reason
from tests.unit.recurring import bursts, learned

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


def taught(history: History = WARM, **learned: object) -> History:
    """`history` with these figures in rate-aware mode's state (`RateAwareState` fields)."""
    return replace(history, rate_aware=replace(history.rate_aware, **learned))  # type: ignore[arg-type]


#: Rate-aware policy overrides: drain within 60 s, a 10 s standing queue, a 30 s rate window.
RATE_AWARE: dict[str, object] = {
    "max_replicas": 50,
    "messages_per_replica": None,
    "target_drain_seconds": 60,
    "standing_wait_seconds": 10,
    "rate_window_seconds": 30,
}


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
        "stream-without-lag-holds",
        Observation((sample(),), NOW, backlog_unknown=(("events", "no consumer lag"),)),
        5,
        {},
        WARM,
        5,
        Reason.BACKLOG_UNKNOWN,
    ),
    (
        "stream-without-lag-raises-to-min",
        Observation((), NOW, backlog_unknown=(("events", "no consumer lag"),)),
        0,
        {"min_replicas": 1},
        WARM,
        1,
        Reason.BACKLOG_UNKNOWN,
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
    (
        # 100/s for 60 s every 300 s, due at 1060; start-up 60 s: 20 replicas of 5/s from now.
        "forecast-raises-ahead-of-a-recurring-burst",
        seen(sample(consumers=1, publish=2, ack=2)),
        1,
        RATE_AWARE,
        replace(
            taught(
                throughput=5.0, throughput_confirmed=True, arrival_rate=2.0, startup_seconds=60.0
            ),
            forecast=learned(bursts(300, 160, 60, 100, 2), until=995),
        ),
        20,
        Reason.FORECAST,
    ),
    (
        "draining-keeps-consuming-replicas",
        seen(sample(ready=800, consumers=8, publish=20, ack=80)),
        8,
        RATE_AWARE,
        taught(throughput=10.0, throughput_confirmed=True, arrival_rate=20.0),
        8,
        Reason.DRAINING,
    ),
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
    reported_elsewhere = {Reason.INVALID_BINDING, Reason.WRITE_FAILED, Reason.INTERNAL_ERROR}
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
    """Changed with the rate-aware rework: throughput is learned only over an
    interval with the same consumers and messages waiting at both ends, and a
    standing queue of standing-wait seconds is not drained."""
    pol = policy(**RATE_AWARE)
    before = taught(last=Reading(at=NOW - 5, consumers=2, queued=100))
    obs = seen(sample(ready=1100, consumers=2, publish=50, ack=20))
    decision = run(obs, 2, pol, before)
    assert decision.throughput == pytest.approx(10)
    # 50/s at 10/s per replica needs 5; 1100 queued, 500 of them standing: 600 more
    # drained in 60 s need 1 more.
    assert decision.desired == 6


def test_rate_aware_learns_only_upward_when_not_saturated() -> None:
    pol = policy(**RATE_AWARE)
    history = taught(throughput=10.0, throughput_confirmed=True, last=Reading(NOW - 5, 4, 0))
    idle_consumers = seen(sample(ready=0, consumers=4, publish=8, ack=8))
    decision, new = decide(idle_consumers, 4, pol, history, NOW)
    assert new.rate_aware.throughput == 10.0  # 2/s per consumer is a lower bound: ignored
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


def known(
    throughput: float = 10.0,
    confirmed: bool = True,
    average: float | None = None,
    last: Reading | None = None,
    startup: float | None = None,
    starting: Starting | None = None,
) -> History:
    """A warm history in which rate-aware mode has learned these figures."""
    return taught(
        throughput=throughput,
        throughput_confirmed=confirmed,
        arrival_rate=average,
        last=last,
        startup_seconds=startup,
        starting=starting,
    )


# Rate-aware steps at 10/s per replica, drained within 60 s, a 10 s standing
# queue and a 30 s rate window (the rate window does not move `average` when
# `last` is None). (id, sample, current, history, desired, reason, note starts with)
RATE_CASES = [
    (
        "sustain-at-the-average-rate",
        sample(ready=0, unacked=50, consumers=5, publish=50, ack=50),
        5, known(average=50.0), 5, Reason.STEADY, "arrivals 50.0/s",
    ),
    (
        "drain-what-exceeds-the-standing-queue",
        sample(ready=1100, consumers=5, publish=50, ack=50),
        5, known(average=50.0), 6, Reason.SCALE_UP, "arrivals",
    ),
    (
        "standing-queue-settles-on-the-lower-whole-number",
        # 5.2 needed at an empty queue is 5.2 - 520/600 = 4.33: 5 replicas and a short queue
        sample(ready=0, unacked=52, consumers=6, publish=52, ack=52),
        6, known(average=52.0), 5, Reason.SCALE_DOWN, "arrivals",
    ),
    (
        "tolerance-holds-only-upward",
        sample(ready=580, consumers=5, publish=54, ack=50),
        5, known(average=54.0), 5, Reason.WITHIN_TOLERANCE, "arrivals",
    ),
    (
        "unconfirmed-throughput-is-probed-10-percent-higher",
        # 66/s at 11/s per replica: 6 - 660/660 = 5
        sample(ready=0, unacked=60, consumers=5, publish=66, ack=60),
        5, known(confirmed=False, average=66.0), 5, Reason.STEADY, "arrivals",
    ),
    (
        "surge-by-backlog-sizes-for-the-projected-queue",
        # 3000 queued > 1 replica x 10/s x 60 s. At the 20/s average the queue grows
        # 10/s for the 30 s start-up: 3300, of which all but the 200 standing are
        # drained in 60 s (5.17), plus 2 to sustain.
        sample(ready=3000, consumers=1, publish=150, ack=10),
        1, known(average=20.0, startup=30.0), 8, Reason.SCALE_UP, "surge",
    ),
    (
        "surge-by-rate-needs-two-rising-intervals",
        # 150/s: 15 to sustain; 2000 + 140/s x 30 s = 6200, less the 1500 standing,
        # to drain in 60 s: 7.83.
        sample(ready=2000, consumers=1, publish=150, ack=10),
        1,
        known(average=40.0, startup=30.0, last=Reading(NOW - 5, 1, 1000, rising=True)),
        23, Reason.SCALE_UP, "surge",
    ),
    (
        "surge-counts-from-the-scale-up-under-way",
        # 20 s into the surge above: the 23 asked for consume in 10 s, by when the
        # 4800 queued are 6200 again: nothing more to ask for.
        sample(ready=4800, consumers=1, publish=150, ack=10),
        23,
        taught(
            replace(
                known(average=40.0, startup=30.0, last=Reading(NOW, 1, 4000, rising=True)),
                changes=(Change(NOW - 20, 1, 23),),
            ),
            surge_until=NOW + 10,
        ),
        23, Reason.STEADY, "surge",
    ),
    (
        "a-burst-the-replicas-drain-is-no-surge",
        sample(ready=400, consumers=4, publish=80, ack=40),
        4, known(average=20.0, startup=30.0), 4, Reason.DRAINING, "arrivals",
    ),
    (
        "idle-goes-to-zero-whatever-the-average",
        sample(consumers=3, publish=0, ack=0),
        3, known(average=40.0), 0, Reason.SCALE_TO_ZERO, "nothing queued",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("queue", "current", "history", "desired", "reason", "note"),
    [pytest.param(*c[1:], id=c[0]) for c in RATE_CASES],
)
def test_rate_aware_steps(
    queue: QueueSample, current: int, history: History, desired: int, reason: Reason, note: str
) -> None:
    decision = run(seen(queue), current, policy(**RATE_AWARE), history)
    assert (decision.desired, decision.reason) == (desired, reason), decision.message
    assert decision.message.startswith(note), decision.message


def test_throughput_is_learned_over_an_interval_whose_ends_agree() -> None:
    pol = policy(**RATE_AWARE)
    busy = seen(sample(ready=500, consumers=4, publish=50, ack=30))
    same = taught(last=Reading(NOW - 5, consumers=4, queued=200))
    learned = decide(busy, 4, pol, same, NOW)[1].rate_aware
    assert (learned.throughput, learned.throughput_confirmed) == (7.5, True)
    changed = taught(last=Reading(NOW - 5, consumers=2, queued=200))
    mixed = decide(busy, 4, pol, changed, NOW)[1].rate_aware
    assert mixed.throughput is None  # replicas joined during the interval: a mix
    emptied = taught(last=Reading(NOW - 5, consumers=4, queued=0))
    bound = decide(busy, 4, pol, emptied, NOW)[1].rate_aware
    assert (bound.throughput, bound.throughput_confirmed) == (7.5, False)


def test_startup_time_is_learned_from_a_scale_up() -> None:
    pol = policy(**RATE_AWARE)
    history = known(average=50.0, last=Reading(NOW - 5, 5, 0))
    up, history = decide(
        seen(sample(ready=3000, consumers=5, publish=50, ack=50)), 5, pol, history, NOW
    )
    assert up.desired > 5
    assert history.rate_aware.starting == Starting(NOW, up.desired)
    later = NOW + 35
    obs = seen(sample(ready=100, consumers=up.desired, publish=50, ack=50), at=later)
    _, history = decide(obs, up.desired, pol, history, later)
    assert (history.rate_aware.startup_seconds, history.rate_aware.starting) == (35.0, None)


def test_the_average_rate_follows_the_rate_window() -> None:
    pol = policy(**RATE_AWARE)
    history = known(average=100.0, last=Reading(NOW - 30, 5, 0))
    _, learned = decide(
        seen(sample(unacked=1, consumers=5, publish=0, ack=0)), 5, pol, history, NOW
    )
    assert learned.rate_aware.arrival_rate == pytest.approx(100 * math.exp(-1))


def test_raw_broker_samples_are_preferred_to_smoothed_rates() -> None:
    """Throughput and the average come from the newest sample, not the smoothed rate."""
    pol = policy(**RATE_AWARE)
    raw = QueueSample("q", 500, 0, 4, publish_rate=5.0, ack_rate=5.0,
                      publish_rate_sample=60.0, ack_rate_sample=40.0)  # fmt: skip
    history = taught(last=Reading(NOW - 5, 4, 100))
    learned = decide(seen(raw), 4, pol, history, NOW)[1].rate_aware
    assert (learned.throughput, learned.arrival_rate) == (10.0, 60.0)


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
        rate_window_seconds=draw(st.floats(0, 300)),
        standing_wait_seconds=draw(st.floats(0, 60)),
        surge_threshold=draw(st.floats(1.01, 10)),
        cooldown_seconds=draw(st.floats(0, 600)),
        activation_messages=draw(st.floats(0, 100)),
        scale_up_limit=draw(limits_st),
        scale_down_limit=draw(limits_st),
        count=draw(st.sampled_from(CountMode)),
        aggregate=draw(st.sampled_from(Aggregate)),
    )


#: Whatever rate-aware mode may have learned before this call.
histories_st = st.builds(
    History,
    started_at=st.just(0.0),
    recommendations=st.lists(
        st.tuples(st.floats(NOW - 600, NOW), st.integers(0, 60)), max_size=4
    ).map(tuple),
    rate_aware=st.builds(
        RateAwareState,
        throughput=st.none() | st.floats(0.01, 1e4),
        throughput_confirmed=st.booleans(),
        arrival_rate=st.none() | st.floats(0, 1e5),
        startup_seconds=st.none() | st.floats(0, 900),
        starting=st.none() | st.builds(Starting, st.floats(NOW - 900, NOW), st.integers(1, 60)),
        surge_until=st.none() | st.floats(NOW - 60, NOW + 60),
        last=st.none()
        | st.builds(
            Reading,
            st.floats(NOW - 60, NOW),
            st.integers(0, 100),
            st.integers(0, 10**7),
            st.booleans(),
        ),
    ),
)

observations_st = st.one_of(
    st.builds(lambda qs: seen(*qs), st.lists(samples_st, min_size=1, max_size=4)),
    st.just(Observation((), NOW, error="boom")),
    st.just(Observation((), NOW - 3600)),
    st.just(Observation((), None)),
    st.builds(lambda s: Observation((s,), NOW, missing=("x",)), samples_st),
    st.builds(lambda s: Observation((s,), NOW, backlog_unknown=(("s", "no lag"),)), samples_st),
)


@settings(max_examples=400)
@given(observations_st, st.integers(0, 60), policies())
def test_desired_stays_within_bounds_unless_holding_untrusted(
    obs: Observation, current: int, pol: Policy
) -> None:
    decision = run(obs, current, pol)
    if decision.reason in UNTRUSTED_DATA - {Reason.FALLBACK}:
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


@settings(max_examples=400)
@given(observations_st, st.integers(0, 60), policies(), histories_st)
def test_learned_state_keeps_bounds_and_never_lowers_on_untrusted_data(
    obs: Observation, current: int, pol: Policy, history: History
) -> None:
    decision, new = decide(obs, current, pol, history, NOW)
    if decision.reason in UNTRUSTED_DATA - {Reason.FALLBACK}:
        assert decision.desired == max(current, pol.min_replicas)
    elif decision.reason is not Reason.FALLBACK:
        assert pol.min_replicas <= decision.desired <= pol.max_replicas
    assert decision.desired >= current or decision.reason not in UNTRUSTED_DATA
    assert new.rate_aware.throughput is None or new.rate_aware.throughput > 0


@pytest.mark.parametrize(
    ("ready", "tolerance"),
    [(110, 0.1), (90, 0.1), (130, 0.3), (70, 0.3), (115, 0.15), (85, 0.15)],
    ids=["11-at-10", "9-at-10", "13-at-10-tol-0.3", "7-at-10-tol-0.3", "11.5-at-10", "8.5-at-10"],
)
def test_a_need_exactly_at_the_tolerance_holds_both_ways(ready: int, tolerance: float) -> None:
    """The boundary is exact: 11/10 − 1 is 0.10000000000000009 in floats."""
    pol = policy(tolerance=tolerance, scale_down_limit=None, cooldown_seconds=0)
    decision = run(seen(sample(ready=ready)), 10, pol)
    assert (decision.desired, decision.reason) == (10, Reason.WITHIN_TOLERANCE)


@settings(max_examples=200, deadline=None)  # no deadline: a loaded CI machine is slow
@given(
    st.integers(0, 100_000),
    st.integers(0, 100_000),
    st.integers(0, 60),
    policies(),
    histories_st,
)
def test_more_backlog_never_means_fewer_replicas(
    ready: int, more: int, current: int, pol: Policy, history: History
) -> None:
    """Backlog mode is monotonic in the backlog: from the same state, a deeper
    queue asks for at least as many replicas (and from 0, wakes no later)."""
    pol = replace(
        pol, target_drain_seconds=None, messages_per_replica=pol.messages_per_replica or 7
    )
    fewer = run(seen(sample(ready=ready)), current, pol, history)
    deeper = run(seen(sample(ready=ready + more)), current, pol, history)
    assert deeper.desired >= fewer.desired


@pytest.mark.parametrize(
    ("per_replica", "expected", "advice"),
    [(10, 4, "÷ 10 per replica"), (None, 1, "set messages-per-replica")],
    ids=["falls-back-to-messages-per-replica", "without-it-says-what-to-set"],
)
def test_rate_aware_without_any_rates_says_why_instead_of_learning(
    per_replica: int | None, expected: int, advice: str
) -> None:
    """Management statistics off: no rate ever arrives, so nothing can be learned."""
    pol = policy(**{**RATE_AWARE, "messages_per_replica": per_replica})
    decision = run(seen(sample(ready=35, consumers=0)), 1, pol)
    assert decision.desired == expected
    assert "reports no publish or ack rates" in decision.message
    assert advice in decision.message
