"""Each sizing mode is a strategy that owns its state in History: what that promises."""

from __future__ import annotations

from dataclasses import replace

from qscaler.core.decide import decide
from qscaler.core.model import History, Observation, QueueSample
from qscaler.core.policy import ForecastMode, Policy, QueueSelector
from qscaler.core.rate_aware_state import RateAwareState, Reading
from tests.unit.recurring import bursts, learned

NOW = 2615.0
RATE_AWARE = Policy(
    queues=QueueSelector(vhost="/", names=("q",)),
    target_drain_seconds=60,
    min_replicas=0,
    max_replicas=100,
)
BACKLOG = replace(RATE_AWARE, target_drain_seconds=None, messages_per_replica=10)
#: Rate-aware mode and the forecast after a while: 5/s per replica, a burst every 900 s.
LEARNED = History(
    started_at=0.0,
    rate_aware=RateAwareState(
        throughput=5.0,
        throughput_confirmed=True,
        arrival_rate=2.0,
        startup_seconds=60.0,
        last=Reading(NOW - 5, 1, 0),
    ),
    forecast=learned(bursts(900, 900, 60, 300, 2), until=NOW - 5),
)


def busy(at: float = NOW) -> Observation:
    return Observation((QueueSample("q", 40, 0, 1, 2.0, 2.0),), observed_at=at)


def test_backlog_mode_leaves_what_rate_aware_mode_learned() -> None:
    """A policy switched to backlog mode and back resumes from what it had learned."""
    _, history = decide(busy(), 1, BACKLOG, LEARNED, NOW)
    assert (history.rate_aware, history.forecast) == (LEARNED.rate_aware, LEARNED.forecast)
    _, back = decide(busy(NOW + 5), 1, RATE_AWARE, history, NOW + 5)
    assert back.rate_aware.throughput == 5.0
    assert back.rate_aware.last == Reading(NOW + 5, 1, 40, rising=True)


def test_forecast_off_leaves_the_forecast_state_and_on_feeds_it() -> None:
    off = replace(RATE_AWARE, forecast=ForecastMode.OFF)
    _, history = decide(busy(), 1, off, LEARNED, NOW)
    assert history.forecast == LEARNED.forecast
    assert history.rate_aware != LEARNED.rate_aware  # rate-aware mode still learns
    _, fed = decide(busy(), 1, RATE_AWARE, LEARNED, NOW)
    assert fed.forecast is not None
    assert fed.forecast != LEARNED.forecast


def test_no_forecast_before_a_throughput_is_learned() -> None:
    """The forecast's floor needs replicas of a known throughput; until then it is not fed."""
    unlearned = replace(LEARNED, rate_aware=RateAwareState())
    decision, history = decide(busy(), 1, RATE_AWARE, unlearned, NOW)
    assert history.forecast == LEARNED.forecast
    assert decision.figures is not None
    assert decision.figures.forecast is None
