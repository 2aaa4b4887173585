"""The forecast as a strategy: rate-aware sizing, plus a floor ahead of recurring bursts. Pure.

`Forecasting` wraps `RateAware`: it sizes exactly as rate-aware mode does and,
once a per-replica throughput is known, feeds this poll's publish rate to the
forecaster (`qscaler.core.forecast.anticipate`) and asks the pipeline to raise
the count to the forecast's floor (only ever raise; in shadow mode only to say
so). Its state is the forecaster's `ForecastState`, held in
`History.forecast`; rate-aware mode's own state stays in `History.rate_aware`.
"""

from __future__ import annotations

from dataclasses import replace

from qscaler.core.arrivals import latest_rate
from qscaler.core.demand import Demand
from qscaler.core.forecast import Anticipation, anticipate
from qscaler.core.model import ForecastFigures, History
from qscaler.core.policy import ForecastMode, Policy
from qscaler.core.rate_aware import RateAware
from qscaler.core.reasons import Reason
from qscaler.core.strategy import Floor, Sizing


class Forecasting:
    """Rate-aware sizing with the forecast's floor (forecast `on` or `shadow`)."""

    def __init__(self, sized_by: RateAware) -> None:
        self._sized_by = sized_by

    def size(
        self, demand: Demand, policy: Policy, history: History, current: int, now: float
    ) -> Sizing:
        """Rate-aware's sizing; with a learned throughput, the forecast's floor and figures.

        The floor needs replicas of a known throughput; until one is learned
        the forecaster is not fed, as it never was in rate-aware mode.
        """
        sizing = self._sized_by.size(demand, policy, history, current, now)
        learned = sizing.history.rate_aware
        if not learned.throughput:
            return sizing
        anticipation, state = anticipate(
            sizing.history.forecast,
            latest_rate(demand),
            learned.throughput,
            learned.startup_seconds,
            now,
        )
        return replace(
            sizing,
            history=replace(sizing.history, forecast=state),
            raised_to=_floor(anticipation, policy),
            forecast=_figures(anticipation),
        )

    def settle(self, history: History, current: int, desired: int, now: float) -> History:
        """What rate-aware mode learns from the outcome; the forecast learns nothing from it."""
        return self._sized_by.settle(history, current, desired, now)


def _floor(anticipation: Anticipation, policy: Policy) -> Floor:
    """The forecast's floor; in shadow mode one that is only reported."""
    if policy.forecast is ForecastMode.SHADOW:
        return Floor(anticipation.replicas, Reason.FORECAST, f"shadow {anticipation.note}", False)
    return Floor(anticipation.replicas, Reason.FORECAST, anticipation.note)


def _figures(anticipation: Anticipation) -> ForecastFigures:
    figures = anticipation.forecast
    return ForecastFigures(anticipation.replicas, figures.trust, figures.period_seconds)
