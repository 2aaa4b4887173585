"""Publish-rate histories with (or without) a recurring burst, fed through the forecaster."""

from __future__ import annotations

from collections.abc import Callable

from qscaler.core.forecast import ForecastState, observe

Rate = Callable[[float], float]


def bursts(period: float, start: float, length: float, peak: float, base: float) -> Rate:
    """`peak`/s for `length` s every `period` s from `start` on, else `base`."""
    return lambda t: peak if t >= start and (t - start) % period < length else base


def learned(rate: Rate, until: float, step: float = 5.0, since: float = 0.0) -> ForecastState:
    """The forecaster's state after one sample every `step` s from `since` up to `until`."""
    state = ForecastState()
    t = since
    while t <= until:
        state = observe(state, t, rate(t))
        t += step
    return state
