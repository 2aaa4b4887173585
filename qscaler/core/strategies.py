"""Which sizing strategy a policy asks for: the one place that tells the modes apart. Pure.

decide()'s pipeline (qscaler.core.decide) is the same for every mode; it
asks this module for the strategy and never looks at the mode itself. A new
mode is a new `Strategy` (qscaler.core.strategy) chosen here.
"""

from __future__ import annotations

from qscaler.core.backlog import Backlog
from qscaler.core.forecasting import Forecasting
from qscaler.core.policy import ForecastMode, Policy
from qscaler.core.rate_aware import RateAware
from qscaler.core.strategy import Strategy

BACKLOG = Backlog()
RATE_AWARE = RateAware()
FORECASTING = Forecasting(RATE_AWARE)


def strategy_for(policy: Policy) -> Strategy:
    """Backlog without a drain target; rate-aware with one, wrapped by the forecast unless off."""
    if not policy.rate_aware:
        return BACKLOG
    if policy.forecast is ForecastMode.OFF:
        return RATE_AWARE
    return FORECASTING
