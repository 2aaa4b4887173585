"""The forecaster: periods learned from any recurring burst, a profile, and trust."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qscaler.core.decide import decide
from qscaler.core.forecast import (
    BUCKET_SECONDS,
    MIN_TRUST,
    ForecastState,
    anticipate,
    detect_period,
    forecast,
    observe,
)
from qscaler.core.model import History, Observation, QueueSample
from qscaler.core.policy import ForecastMode, Policy, QueueSelector
from qscaler.core.rate_aware_state import RateAwareState
from qscaler.core.reasons import Reason
from tests.unit.recurring import Rate, bursts, learned


def flat(rate: float) -> Rate:
    return lambda _t: rate


def noise(seed: int, low: float, high: float) -> Rate:
    table = random.Random(seed)
    values = [table.uniform(low, high) for _ in range(4000)]
    return lambda t: values[int(t // 5) % 4000]


@pytest.mark.parametrize(
    ("rate", "until", "period"),
    [
        pytest.param(bursts(900, 900, 60, 300, 2), 2700, 60, id="cron: 2 batches in 15 min"),
        pytest.param(bursts(120, 30, 20, 50, 1), 600, 8, id="every 2 min, 20 s long"),
        pytest.param(bursts(3600, 100, 300, 80, 10), 3 * 3600, 240, id="hourly, 5 min long"),
        pytest.param(bursts(900, 900, 60, 300, 2), 1700, None, id="one batch: no period yet"),
        pytest.param(flat(50), 7200, None, id="steady"),
        pytest.param(noise(1, 40, 120), 7200, None, id="noise"),
        pytest.param(noise(2, 0, 200), 7200, None, id="wide noise"),
        pytest.param(lambda t: 10 + t / 100, 7200, None, id="ramp"),
    ],
)
def test_detect_period(rate: Rate, until: float, period: int | None) -> None:
    assert learned(rate, until).period == period


@settings(max_examples=60, deadline=None)  # each example learns up to 3 h of history
@given(
    period=st.integers(min_value=8, max_value=240).map(lambda b: b * BUCKET_SECONDS),
    phase=st.floats(min_value=0, max_value=1),
    duty=st.floats(min_value=0.05, max_value=0.3),
    peak=st.floats(min_value=20, max_value=500),
    base=st.floats(min_value=0, max_value=5),
)
def test_any_recurring_burst_gives_its_period(
    period: int, phase: float, duty: float, peak: float, base: float
) -> None:
    """Not tuned to one shape: any period from 2 min to 1 h, any phase, length and height."""
    length = max(BUCKET_SECONDS * 2, duty * period)
    state = learned(bursts(period, phase * period, length, peak, base), until=3.2 * period)
    assert state.period is not None
    assert abs(state.period * BUCKET_SECONDS - period) <= BUCKET_SECONDS


def test_the_floor_rises_one_lead_ahead_of_the_burst_and_not_before() -> None:
    rate = bursts(900, 900, 60, 300, 2)  # next batch at 2700
    state = learned(rate, until=2500)
    early, _ = forecast(state, 2500.0, lead=90)
    ahead, _ = forecast(learned(rate, until=2615), 2615.0, lead=90)
    assert early.rate == 0
    assert ahead.rate == pytest.approx(300)
    assert ahead.peak_at is not None
    assert 2685 <= ahead.peak_at <= 2700


def test_a_burst_that_does_not_come_is_trusted_less_and_released() -> None:
    rate = bursts(900, 900, 60, 300, 2)
    state = learned(rate, until=2615)
    _, state = forecast(state, 2615.0, lead=90)  # expects the batch at 2700
    t = 2620.0
    while t <= 2800:  # ... which does not come: the trickle goes on
        state = observe(state, t, 2.0)
        t += 5
    after, state = forecast(state, 2800.0, lead=90)
    assert state.trust == pytest.approx(0.5)
    assert after.rate == 0  # released once its window passed
    first_again = None
    for t2 in range(2805, 10800, 5):  # the batches come back from 3600 on
        state = observe(state, t2, rate(t2))
        ahead, state = forecast(state, float(t2), lead=90)
        if ahead.rate > 0 and first_again is None:
            first_again = ahead
    assert first_again is not None
    assert first_again.rate == pytest.approx(150)  # 300/s × trust 0.5
    assert state.trust == 1.0  # the batches it then expected came: trusted again


def test_trust_falls_below_the_floor_after_repeated_misses() -> None:
    state = replace(learned(bursts(900, 900, 60, 300, 2), until=2615), trust=MIN_TRUST / 2)
    assert forecast(state, 2615.0, lead=90)[0].rate == 0


def policy(mode: ForecastMode) -> Policy:
    return Policy(
        queues=QueueSelector(vhost="/", names=("q",)),
        target_drain_seconds=60,
        min_replicas=0,
        max_replicas=100,
        forecast=mode,
    )


def warm(state: ForecastState) -> History:
    learned = RateAwareState(
        throughput=5.0, throughput_confirmed=True, arrival_rate=2.0, startup_seconds=60.0
    )
    return History(started_at=0.0, rate_aware=learned, forecast=state)


def quiet(now: float) -> Observation:
    return Observation((QueueSample("q", 0, 0, 1, 2.0, 2.0),), observed_at=now)


@pytest.mark.parametrize(
    ("mode", "desired", "reason"),
    [
        pytest.param(ForecastMode.ON, 60, Reason.FORECAST, id="on: raised"),
        pytest.param(ForecastMode.SHADOW, 1, Reason.STEADY, id="shadow: reported only"),
        pytest.param(ForecastMode.OFF, 1, Reason.STEADY, id="off"),
    ],
)
def test_forecast_modes(mode: ForecastMode, desired: int, reason: Reason) -> None:
    state = learned(bursts(900, 900, 60, 300, 2), until=2610)
    decision, history = decide(quiet(2615.0), 1, policy(mode), warm(state), 2615.0)
    assert (decision.desired, decision.reason) == (desired, reason)
    if mode is ForecastMode.SHADOW:
        assert "shadow forecast" in decision.message
    if mode is not ForecastMode.OFF:
        assert decision.figures is not None
        assert decision.figures.forecast is not None
        assert decision.figures.forecast.replicas == 60
        assert history.forecast is not None
        assert history.forecast.period == 60


#: Learned once: states at every minute of the third cycle (ahead of, in and after a batch).
CRON_STATES = {u: learned(bursts(900, 900, 60, 300, 2), until=u - 5) for u in range(2400, 3601, 60)}


@settings(max_examples=300, deadline=None)
@given(
    ready=st.integers(min_value=0, max_value=5000),
    consumers=st.integers(min_value=0, max_value=50),
    publish=st.floats(min_value=0, max_value=400),
    current=st.integers(min_value=0, max_value=100),
    until=st.sampled_from(sorted(CRON_STATES)),
)
def test_a_forecast_only_ever_raises(
    ready: int, consumers: int, publish: float, current: int, until: int
) -> None:
    state = CRON_STATES[until]
    obs = Observation((QueueSample("q", ready, 0, consumers, publish, publish),), observed_at=until)
    on, _ = decide(obs, current, policy(ForecastMode.ON), warm(state), until)
    off, _ = decide(obs, current, policy(ForecastMode.OFF), warm(state), until)
    assert on.desired >= off.desired


def test_anticipate_without_history_changes_nothing() -> None:
    anticipation, state = anticipate(None, 50.0, 5.0, 60.0, 100.0)
    assert anticipation.replicas == 0
    assert "no recurring burst" in anticipation.note
    assert detect_period(state.rates) is None
