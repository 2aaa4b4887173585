"""What a sizing strategy gives decide()'s pipeline, and what it is asked. Pure.

As in the Kubernetes HPA, where each metric source has its own replica
function and the normalization after it (tolerance, bounds, stabilization,
rate limits) is generic, each sizing mode here is a `Strategy`: it folds a
trusted observation into its own state, says what the workload needs, and may
name a floor. `qscaler.core.decide` runs the same pipeline whichever it is
and never asks which mode a policy is in; `qscaler.core.strategies` picks the
strategy. The strategies are `Backlog` (qscaler.core.backlog), `RateAware`
(qscaler.core.rate_aware) and `Forecasting` (qscaler.core.forecasting), which
wraps rate-aware sizing and raises a floor ahead of recurring bursts.

A strategy's state is its own frozen value held in `History` (one field per
strategy), so a policy that changes mode keeps what the other mode learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from qscaler.core.demand import Demand, Sized
from qscaler.core.model import ForecastFigures, History
from qscaler.core.policy import Policy
from qscaler.core.reasons import Reason


@dataclass(frozen=True, slots=True)
class Floor:
    """A count the strategy asks the pipeline not to go below at one step, and why.

    `applied` False only reports it (the forecast's shadow mode): the pipeline
    adds `note` to the decision's message and leaves the count alone.
    """

    replicas: int
    reason: Reason
    note: str
    applied: bool = True


@dataclass(frozen=True, slots=True)
class Sizing:
    """A strategy's answer for one trusted observation.

    `history` carries the strategy's state after learning from it;
    `tolerance_down` False makes the tolerance hold only upward (below, the
    need's whole replicas are taken as they are). `raised_to` applies after
    tolerance (before the bounds), `kept_at` only to a scale-down, after
    stabilization. `throughput` and `forecast` are what reporters show.
    """

    sized: Sized
    history: History
    tolerance_down: bool = True
    raised_to: Floor | None = None
    kept_at: Floor | None = None
    throughput: float | None = None
    forecast: ForecastFigures | None = None


class Strategy(Protocol):
    """One sizing mode: its replica function and its own state in `History`."""

    def size(
        self, demand: Demand, policy: Policy, history: History, current: int, now: float
    ) -> Sizing:
        """Learn from this trusted observation and say what the workload needs."""
        ...

    def settle(self, history: History, current: int, desired: int, now: float) -> History:
        """The history after the pipeline decided `desired`: what the outcome teaches."""
        ...
