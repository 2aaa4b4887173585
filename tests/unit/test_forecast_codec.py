"""The forecast's memory as text: round trips, a bounded size, and bad input read as nothing."""

from __future__ import annotations

import json
import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from qscaler.core.forecast import BUCKET_SECONDS, CAPACITY, Expected, ForecastState, anticipate
from qscaler.core.forecast_codec import (
    VERSION,
    Memory,
    decode,
    encode,
    remembered,
    saved_at,
    seeded,
)
from qscaler.core.model import History
from qscaler.core.rate_aware_state import RateAwareState
from tests.unit.recurring import bursts, learned

BIG = 1 << 20
rates = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6))
states = st.builds(
    ForecastState,
    first=st.integers(min_value=0, max_value=10**9),
    rates=st.lists(rates, max_size=CAPACITY).map(tuple),
    open_bucket=st.none() | st.integers(min_value=0, max_value=10**9),
    open_sum=st.floats(min_value=0, max_value=1e6),
    open_count=st.integers(min_value=1, max_value=100),
    trust=st.floats(min_value=0, max_value=1),
    expected=st.none()
    | st.builds(Expected, st.integers(0, 10**9), st.floats(min_value=0, max_value=1e6)),
    period=st.none() | st.integers(min_value=1, max_value=CAPACITY),
)
memories = st.builds(
    Memory,
    state=states,
    throughput=st.none() | st.floats(min_value=0.001, max_value=1e5),
    throughput_confirmed=st.booleans(),
    startup_seconds=st.none() | st.floats(min_value=0, max_value=3600),
)
offsets = st.floats(min_value=-1e9, max_value=2e9)


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-9)


@settings(max_examples=300, deadline=None)
@given(memory=memories, offset=offsets)
def test_a_round_trip_keeps_every_bucket_and_figure(memory: Memory, offset: float) -> None:
    back = decode(encode(memory, offset, 1.7e9, BIG), offset)
    assert back is not None
    s, r = memory.state, back.state
    if s.open_bucket is None:  # a state that never observed: its open sum and count are unused
        s = ForecastState(s.first, s.rates, None, 0.0, 0, s.trust, s.expected, s.period)
    assert (r.first, r.open_bucket, r.open_count, r.period) == (
        s.first,
        s.open_bucket,
        s.open_count,
        s.period,
    )
    assert len(r.rates) == len(s.rates)
    assert all(close(a, b) for a, b in zip(r.rates, s.rates, strict=True))
    assert close(r.open_sum, s.open_sum)
    assert close(r.trust, s.trust)
    assert (r.expected is None) == (s.expected is None)
    if r.expected is not None and s.expected is not None:
        assert r.expected.bucket == s.expected.bucket
        assert close(r.expected.rate, s.expected.rate)
    assert close(back.throughput, memory.throughput)
    assert back.throughput_confirmed == (
        memory.throughput is not None and memory.throughput_confirmed
    )
    assert close(back.startup_seconds, memory.startup_seconds)


@settings(max_examples=200, deadline=None)
@given(memory=memories, cap=st.integers(min_value=300, max_value=20_000))
def test_an_entry_fits_its_cap_by_dropping_the_oldest_buckets(memory: Memory, cap: int) -> None:
    text = encode(memory, 0.0, 1.7e9, cap)
    assert len(text.encode()) <= cap
    back = decode(text, 0.0)
    assert back is not None
    kept = len(back.state.rates)
    assert back.state.first == memory.state.first + len(memory.state.rates) - kept
    newest = memory.state.rates[len(memory.state.rates) - kept :]
    assert all(close(a, b) for a, b in zip(back.state.rates, newest, strict=True))


def test_a_learned_four_hours_is_a_few_kilobytes() -> None:
    state = learned(bursts(600, 0, 60, 123.456, 1.5), 4 * 3600)
    assert len(state.rates) == CAPACITY
    text = encode(Memory(state, 12.5, True, 40.0), 0.0, 1.7e9, BIG)
    assert len(text) < 8000, len(text)


def test_buckets_move_between_the_loop_clock_and_the_wall_clock() -> None:
    """Another process's loop clock starts elsewhere: the same wall-clock
    moment must land in the same bucket of the new process's clock."""
    state = learned(bursts(120, 0, 20, 50, 1), 600, since=0.0)
    wall_then, loop_then = 1.7e9, 600.0  # the old process: wall = loop + offset
    text = encode(Memory(state), wall_then - loop_then, wall_then, BIG)
    document = json.loads(text)
    assert document["first"] == state.first + round((wall_then - loop_then) / BUCKET_SECONDS)
    new_offset = wall_then - 50.0  # the new process's loop clock reads 50 s at the same moment
    back = decode(text, new_offset)
    assert back is not None
    assert state.open_bucket is not None
    assert back.state.open_bucket == state.open_bucket - round(550 / BUCKET_SECONDS)
    assert back.state.period == state.period


def test_a_restored_forecast_forecasts_as_the_old_one_would() -> None:
    state = learned(bursts(120, 0, 20, 50, 1), 900)
    back = decode(encode(Memory(state), 0.0, 1.7e9, BIG), 0.0)
    assert back is not None
    before, _ = anticipate(state, 1.0, 10.0, 30.0, 905.0)
    after, _ = anticipate(back.state, 1.0, 10.0, 30.0, 905.0)
    assert before.replicas > 0
    assert after.replicas == before.replicas
    assert after.forecast.period_seconds == before.forecast.period_seconds


def test_saved_at_reads_the_time_of_writing() -> None:
    assert saved_at(encode(Memory(ForecastState()), 0.0, 1234.4, BIG)) == 1234
    assert saved_at("{") is None


def test_remembered_and_seeded_carry_the_forecast_and_what_it_sizes_with() -> None:
    assert remembered(History()) is None
    figures = RateAwareState(throughput=3.0, throughput_confirmed=True, startup_seconds=20.0)
    history = History(
        forecast=ForecastState(trust=0.5),
        rate_aware=replace(figures, arrival_rate=7.0),
        failures=2,
    )
    memory = remembered(history)
    assert memory == Memory(ForecastState(trust=0.5), 3.0, True, 20.0)
    assert seeded(History(failures=1), memory) == History(
        failures=1,
        forecast=ForecastState(trust=0.5),
        rate_aware=figures,
    )


GOOD = encode(Memory(learned(bursts(120, 0, 20, 50, 1), 600), 2.0, True, 9.0), 0.0, 1.7e9, BIG)


def test_the_good_entry_the_bad_ones_are_made_from_decodes() -> None:
    assert decode(GOOD, 0.0) is not None


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(GOOD) - 1))
def test_a_truncated_entry_is_nothing(cut: int) -> None:
    assert decode(GOOD[:cut], 0.0) is None


@given(text=st.text(max_size=200))
def test_any_text_is_an_entry_or_nothing_never_an_error(text: str) -> None:
    decode(text, 0.0)  # raises nothing
    assert saved_at(text) is None or isinstance(saved_at(text), float)


def _with(**fields: object) -> str:
    document = json.loads(GOOD)
    document.update(fields)
    return json.dumps(document)


def test_another_version_is_nothing() -> None:
    assert decode(_with(v=VERSION + 1), 0.0) is None
    assert decode(_with(v=None), 0.0) is None


def test_fields_out_of_range_are_nothing() -> None:
    for bad in (
        {"trust": 1.5},
        {"trust": -0.1},
        {"rates": [1.0, "x"]},
        {"rates": [-1.0]},
        {"rates": [0.0] * (CAPACITY + 1)},
        {"first": 1.5},
        {"first": True},
        {"first": 10**400},
        {"period": 0},
        {"open": [1, 2.0]},
        {"open": [1, 2.0, 0]},
        {"expected": [1, -2.0]},
        {"throughput": [0.0, True]},
        {"throughput": [1.0, "yes"]},
        {"startup": "soon"},
        {"rates": [10**400]},
    ):
        assert decode(_with(**bad), 0.0) is None, bad
    assert decode("[]", 0.0) is None
    assert decode('{"v": 1, "rates": [1e999]}', 0.0) is None
