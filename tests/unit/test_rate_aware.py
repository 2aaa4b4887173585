"""The learned figures behind rate-aware sizing: throughput, average rate, start-up time."""

from __future__ import annotations

import math

import pytest

from qscaler.core.arrivals import average_rate
from qscaler.core.demand import Demand
from qscaler.core.rate_aware_state import Reading, Starting
from qscaler.core.startup import timed, timing
from qscaler.core.throughput import PROBE, Throughput, learn_throughput


def demand(ready: int, consumers: int, ack: float | None) -> Demand:
    return Demand(
        backlog=float(ready), ready=ready, unacknowledged=0, publish_rate=None,
        ack_rate=None, consumers=consumers, ack_sample=ack,
    )  # fmt: skip


BUSY_BEFORE = Reading(at=0.0, consumers=4, queued=50)


@pytest.mark.parametrize(
    ("previous", "now", "last", "expected"),
    [
        pytest.param(None, demand(10, 4, 40.0), BUSY_BEFORE, Throughput(10, True), id="first-busy"),
        pytest.param(
            Throughput(10, True), demand(10, 4, 60.0), BUSY_BEFORE, Throughput(12.5, True),
            id="busy-blends-half-way",
        ),
        pytest.param(
            Throughput(20, False), demand(10, 4, 40.0), BUSY_BEFORE, Throughput(10, True),
            id="busy-replaces-a-mere-bound",
        ),
        pytest.param(
            Throughput(10, True), demand(0, 4, 20.0), BUSY_BEFORE, Throughput(10, True),
            id="idle-lower-bound-is-ignored",
        ),
        pytest.param(
            Throughput(10, True), demand(0, 4, 48.0), BUSY_BEFORE, Throughput(12, True),
            id="idle-bound-above-raises",
        ),
        pytest.param(None, demand(0, 4, 20.0), BUSY_BEFORE, Throughput(5, False), id="first-bound"),
        pytest.param(None, demand(10, 4, 40.0), None, None, id="no-previous-reading"),
        pytest.param(
            None, demand(10, 4, 40.0), Reading(0.0, 2, 50), None, id="consumers-changed"
        ),
        pytest.param(None, demand(10, 0, 40.0), BUSY_BEFORE, None, id="no-consumers"),
        pytest.param(None, demand(10, 4, 0.0), BUSY_BEFORE, None, id="no-acks"),
        pytest.param(None, demand(10, 4, 5e-324), BUSY_BEFORE, None, id="acks-that-divide-to-0"),
    ],
)  # fmt: skip
def test_throughput_learning(
    previous: Throughput | None, now: Demand, last: Reading | None, expected: Throughput | None
) -> None:
    assert learn_throughput(previous, now, last) == expected


def test_an_unconfirmed_throughput_is_probed_above() -> None:
    assert Throughput(10, False).for_sizing == pytest.approx(10 * (1 + PROBE))
    assert Throughput(10, True).for_sizing == 10


def test_average_rate_weights_by_elapsed_time() -> None:
    assert average_rate(None, 50.0, 5, 30) == 50.0
    assert average_rate(100.0, None, 5, 30) == 100.0
    assert average_rate(100.0, 0.0, 30, 30) == pytest.approx(100 * math.exp(-1))
    assert average_rate(100.0, 0.0, 5, 0) == 0.0


def test_startup_is_timed_from_the_first_scale_up_to_its_consumers() -> None:
    started = timing(None, current=2, desired=6, now=100.0)
    assert started == Starting(100.0, 6)
    assert timing(started, current=6, desired=9, now=105.0) == started  # the first one is timed
    assert timed(started, None, consumers=5, now=130.0) == (started, None)
    assert timed(started, None, consumers=6, now=135.0) == (None, 35.0)
    assert timed(started, 25.0, consumers=6, now=135.0) == (None, 30.0)


def test_a_scale_down_below_the_target_cancels_the_timing() -> None:
    started = Starting(100.0, 6)
    assert timing(started, current=6, desired=4, now=110.0) is None
    assert timing(None, current=6, desired=4, now=110.0) is None
