"""Anticipate recurring load: learn a period from the publish rate, raise the floor ahead. Pure.

A reactive controller sees a batch only once it has landed; consumers that
take a minute to start then meet it a minute late. Many batches recur (cron
jobs, hourly exports, a partner's upload every 15 minutes), so the rate a
workload saw one period ago is a good guess for what comes next.

* **History**: the publish rate, averaged into buckets of `BUCKET_SECONDS`,
  the newest `CAPACITY` of them (4 hours). Bounded, so it can be kept
  outside the process and survive a restart (`qscaler.core.forecast_codec`).
* **Period**: the spacings between bursts (the rate at `BURST_FACTOR` times
  its median or more) are the candidate lags; the history must correlate
  with itself at one of them (at least `MIN_CORRELATION`), which needs two
  bursts at least. Random traffic does not correlate at its burst spacings,
  steady traffic has no bursts: neither gets a forecast.
* **Profile**: the expected rate at a future second is the rate at the same
  phase in each of the last `CYCLES` cycles (the highest within one bucket
  either side, because batches jitter), and the lowest of those: a burst
  must have recurred in every recent cycle to be expected.
* **Floor**: the highest expected rate between now and now + lead (the
  learned start-up time plus a margin), scaled by trust. decide() turns it
  into replicas with the learned per-replica throughput and only ever raises.
* **Trust** starts at 1 and halves each time an expected burst does not come
  (the observed rate stayed below half of the forecast); it recovers by
  `TRUST_GAIN` each time one does. Below `MIN_TRUST` no floor is raised.
  A forecast that proved wrong ends when its window passes; the cooldown
  then releases the replicas as for any other recommendation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

#: The history's resolution and length.
BUCKET_SECONDS = 15
CAPACITY = 960  # 4 h: periods up to 2 h are learned
#: Shortest period considered, in buckets (one minute).
MIN_LAG = 4
#: How well a lag must correlate to count as a period.
MIN_CORRELATION = 0.6
#: A cycle may hold up to this many bursts (two batches an hour, say).
MAX_BURSTS_PER_CYCLE = 3
#: Onsets the period is searched among.
RECENT_ONSETS = 8
#: Lags that correlate within this share of the best are the same period (or a multiple).
HARMONIC_SHARE = 0.9
#: Without a new onset, the period is looked for again every this many buckets.
RECHECK_BUCKETS = 8
#: Below this rate (messages/s) the median is taken as this, so an idle
#: queue's first messages are not all "bursts".
MIN_BURST_RATE = 0.5
#: Cycles the profile looks back over.
CYCLES = 2
#: A burst counts as expected when it is at least this many times the base rate.
BURST_FACTOR = 2.0
#: Trust: what a hit adds, what a miss keeps, and the least that still acts.
TRUST_GAIN = 0.5
TRUST_KEPT_ON_MISS = 0.5
MIN_TRUST = 0.25
#: A burst "came" when the observed rate reached this share of the forecast.
HIT_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Expected:
    """A burst the forecast raised the floor for, to be checked when its bucket closes."""

    bucket: int  # absolute bucket number: second // BUCKET_SECONDS
    rate: float


@dataclass(frozen=True, slots=True)
class ForecastState:
    """What the forecaster remembers for one workload.

    `rates[i]` is the mean publish rate of bucket `first + i` (None where
    nothing was observed); the open bucket accumulates in `open_sum` /
    `open_count` until a later bucket starts.
    """

    first: int = 0
    rates: tuple[float | None, ...] = ()
    open_bucket: int | None = None
    open_sum: float = 0.0
    open_count: int = 0
    trust: float = 1.0
    expected: Expected | None = None
    period: int | None = None  # in buckets, found again each time a bucket closes


@dataclass(frozen=True, slots=True)
class Forecast:
    """The forecast for the next `lead` seconds: a rate to be ready for, and why."""

    period_seconds: float | None  # None: no period learned (too little history or none)
    rate: float  # expected publish rate to be ready for, already scaled by trust (0: none)
    trust: float
    peak_at: float | None = None  # when the expected burst starts, if there is one


def observe(state: ForecastState, now: float, rate: float) -> ForecastState:
    """Fold one publish-rate sample at `now` into the history, and settle a due forecast."""
    bucket = int(now // BUCKET_SECONDS)
    if state.open_bucket is None:
        return replace(state, first=bucket, open_bucket=bucket, open_sum=rate, open_count=1)
    if bucket == state.open_bucket:
        return replace(state, open_sum=state.open_sum + rate, open_count=state.open_count + 1)
    closed = _close(state, bucket)
    if _due_for_period(closed):
        closed = replace(closed, period=detect_period(closed.rates))
    return _settle(replace(closed, open_bucket=bucket, open_sum=rate, open_count=1))


def _close(state: ForecastState, bucket: int) -> ForecastState:
    """Append the open bucket's mean (and None for every bucket skipped) to the history."""
    assert state.open_bucket is not None
    mean = state.open_sum / state.open_count if state.open_count else None
    gap = max(0, min(bucket - state.open_bucket - 1, CAPACITY))
    rates = (*state.rates, mean, *([None] * gap))
    first = state.first
    if len(rates) > CAPACITY:
        first += len(rates) - CAPACITY
        rates = rates[-CAPACITY:]
    return replace(state, rates=rates, first=first)


def _due_for_period(state: ForecastState) -> bool:
    """Look for the period again when it may have changed, not at every bucket.

    That is when the newest bucket starts a burst, every `RECHECK_BUCKETS`,
    and, while no period is known, when the history has just grown long
    enough to test a spacing between recent bursts (twice that spacing, and
    `2 · MIN_LAG` pairs): so a period two bursts show is found as soon as it
    can be, in time for the third.
    """
    end = state.first + len(state.rates)
    if end % RECHECK_BUCKETS == 0 or _is_onset(state.rates):
        return True
    return state.period is None and _spacing_just_testable(state.rates)


def _spacing_just_testable(rates: Sequence[float | None]) -> bool:
    starts = onsets(rates)[-RECENT_ONSETS:]
    spacings = {b - a for a, b in pairwise(starts)}
    n = len(rates)
    return any(2 * (s - 1) <= n <= max(2 * (s + 1), s + 1 + 2 * MIN_LAG) for s in spacings)


def _is_onset(rates: Sequence[float | None]) -> bool:
    """Whether the newest bucket rose to a burst level over the one before it."""
    if len(rates) < 2 or rates[-1] is None:
        return False
    before = rates[-2] if rates[-2] is not None else 0.0
    return rates[-1] >= BURST_FACTOR * max(before, MIN_BURST_RATE)


def _settle(state: ForecastState) -> ForecastState:
    """Once an expected burst's bucket (and the one after) has closed, trust more or less."""
    expected = state.expected
    end = state.first + len(state.rates)
    if expected is None or expected.bucket + 1 >= end:
        return state
    seen = [r for r in _window(state, expected.bucket - 1, expected.bucket + 2) if r is not None]
    came = bool(seen) and max(seen) >= HIT_SHARE * expected.rate
    trust = min(1.0, state.trust + TRUST_GAIN) if came else state.trust * TRUST_KEPT_ON_MISS
    return replace(state, trust=trust, expected=None)


def _window(state: ForecastState, start: int, stop: int) -> list[float | None]:
    """The history's buckets in [start, stop) (absolute numbers), where it has them."""
    lo, hi = max(start - state.first, 0), max(stop - state.first, 0)
    return list(state.rates[lo:hi])


def detect_period(rates: Sequence[float | None]) -> int | None:
    """The period of `rates` in buckets, or None when it has none (module docstring).

    Correlating every lag would cost O(n²) per workload, so the candidates
    come from the bursts themselves: the spacings between recent burst onsets
    (next ones, and every second or third when a cycle holds several bursts).
    The shortest candidate that correlates nearly as well as the best one
    wins, so a missed burst (a spacing of two periods) or a multiple of the
    period does not replace the period itself.
    """
    starts = onsets(rates)[-RECENT_ONSETS:]
    candidates = {
        lag + shift
        for step in range(1, MAX_BURSTS_PER_CYCLE + 1)
        for a, b in zip(starts, starts[step:], strict=False)
        for lag in (b - a,)
        for shift in (-1, 0, 1)
        if lag + shift >= MIN_LAG and 2 * (lag + shift) <= len(rates)
    }
    scores = {lag: _correlation(rates, lag) for lag in sorted(candidates)}
    best = max(scores.values(), default=0.0)
    if best < MIN_CORRELATION:
        return None
    shortest = next(lag for lag, score in scores.items() if score >= HARMONIC_SHARE * best)
    near = [lag for lag in scores if abs(lag - shortest) <= 2]
    return max(near, key=lambda lag: (scores[lag], -lag))


def onsets(rates: Sequence[float | None]) -> list[int]:
    """Positions where the rate rises to a burst: `BURST_FACTOR` times the median or more."""
    known = sorted(r for r in rates if r is not None)
    if not known:
        return []
    level = BURST_FACTOR * max(known[len(known) // 2], MIN_BURST_RATE)
    starts, above = [], False
    for i, rate in enumerate(rates):
        if rate is None:
            continue
        if rate >= level and not above:
            starts.append(i)
        above = rate >= level
    return starts


def _correlation(rates: Sequence[float | None], lag: int) -> float:
    """Pearson correlation of the history with itself `lag` buckets later (0 when flat)."""
    pairs = [
        (a, b) for a, b in zip(rates, rates[lag:], strict=False) if a is not None and b is not None
    ]
    if len(pairs) < 2 * MIN_LAG:
        return 0.0
    n = len(pairs)
    mean_a = sum(a for a, _ in pairs) / n
    mean_b = sum(b for _, b in pairs) / n
    cov = sum((a - mean_a) * (b - mean_b) for a, b in pairs)
    var_a = sum((a - mean_a) ** 2 for a, _ in pairs)
    var_b = sum((b - mean_b) ** 2 for _, b in pairs)
    if var_a <= 0 or var_b <= 0:
        return 0.0
    return cov / math.sqrt(var_a * var_b)


def expected_rate(state: ForecastState, period: int, bucket: int) -> float | None:
    """The profile at absolute `bucket`: the lowest, over the last cycles, of the highest
    rate within one bucket of the same phase; None without `CYCLES` cycles of history."""
    peaks = []
    for cycle in range(1, CYCLES + 1):
        same_phase = bucket - cycle * period
        known = [r for r in _window(state, same_phase - 1, same_phase + 2) if r is not None]
        if not known:
            return None
        peaks.append(max(known))
    return min(peaks)


def forecast(state: ForecastState, now: float, lead: float) -> tuple[Forecast, ForecastState]:
    """The rate to be ready for during the next `lead` seconds, and the state expecting it.

    Only a burst counts: an expected rate at least `BURST_FACTOR` times the
    lowest rate of the last period. Steady traffic needs no forecast, and a
    reactive controller follows slow shapes well enough.
    """
    period = state.period
    if period is None:
        return Forecast(None, 0.0, state.trust), state
    first = int(now // BUCKET_SECONDS)
    last = int((now + lead) // BUCKET_SECONDS)
    base = _base_rate(state, period)
    best: tuple[int, float] | None = None
    for bucket in range(first, last + 1):
        rate = expected_rate(state, period, bucket)
        if rate is not None and rate > BURST_FACTOR * base and (best is None or rate > best[1]):
            best = (bucket, rate)
    period_seconds = float(period * BUCKET_SECONDS)
    if best is None or state.trust < MIN_TRUST:
        return Forecast(period_seconds, 0.0, state.trust), state
    bucket, rate = best
    expecting = replace(state, expected=Expected(bucket, rate))
    return Forecast(
        period_seconds, rate * state.trust, state.trust, bucket * BUCKET_SECONDS
    ), expecting


def _base_rate(state: ForecastState, period: int) -> float:
    """The lowest bucket of the last period: the trickle between bursts."""
    recent = [r for r in state.rates[-period:] if r is not None]
    return min(recent, default=0.0)


#: Added to the learned start-up time: the broker's stats delay and one bucket.
LEAD_MARGIN_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Anticipation:
    """What the forecast asks of decide(): a floor in replicas (0: none), and why."""

    replicas: int
    forecast: Forecast
    note: str


def anticipate(
    state: ForecastState | None,
    rate: float | None,
    throughput: float,
    startup: float | None,
    now: float,
) -> tuple[Anticipation, ForecastState]:
    """Learn from this poll's publish rate and forecast the floor for the next start-up time.

    The floor is the expected rate over the per-replica `throughput`: enough
    ready replicas to absorb the burst as it arrives.
    """
    state = observe(state or ForecastState(), now, rate or 0.0)
    lead = (startup or 0.0) + LEAD_MARGIN_SECONDS
    expected, state = forecast(state, now, lead)
    if expected.rate <= 0 or throughput <= 0:
        return Anticipation(0, expected, _quiet_note(expected)), state
    replicas = math.ceil(expected.rate / throughput - 1e-9)
    note = (
        f"forecast: a burst of {expected.rate:.1f}/s recurs every "
        f"{expected.period_seconds:g}s, due at {expected.peak_at:g}s (trust {expected.trust:.2f}): "
        f"{replicas} replicas ready ahead of it"
    )
    return Anticipation(replicas, expected, note), state


def _quiet_note(expected: Forecast) -> str:
    if expected.period_seconds is None:
        return "forecast: no recurring burst learned"
    return f"forecast: period {expected.period_seconds:g}s, no burst due"
