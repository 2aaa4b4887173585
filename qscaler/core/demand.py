"""Turn a workload's queue samples into one demand figure, and size for it.

Two ways to size, both pure arithmetic:

* backlog mode: `ceil(backlog / messages-per-replica)`, the rule every queue
  autoscaler shares (KEDA's QueueLength, the original bash script);
* rate-aware mode: enough replicas to absorb the publish rate *and* drain the
  backlog within `target-drain-seconds`, using the per-replica throughput the
  workload has shown (ack rate / consumers). It needs no tuning constant and
  reacts to the arrival rate before a backlog builds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from qscaler.core.model import QueueSample
from qscaler.core.policy import Aggregate, CountMode, Policy

#: Weight of a new saturated throughput measurement in the learned estimate.
THROUGHPUT_SMOOTHING = 0.3
#: A replica count within this much of a whole number is that number (float noise).
_EPSILON = 1e-9
#: Larger needs are absurd; they are capped before rounding.
MAX_NEED = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Demand:
    """The aggregate of one workload's queues."""

    backlog: float  # messages counted by the policy (ready, or ready + unacked)
    ready: int
    unacknowledged: int
    publish_rate: float | None
    ack_rate: float | None
    consumers: int  # the most consumers on any one queue: replicas consuming

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing in flight, nothing arriving."""
        return self.ready == 0 and self.unacknowledged == 0 and not self.publish_rate


def measure(samples: tuple[QueueSample, ...], policy: Policy) -> Demand:
    """Aggregate the samples as the policy's `count` and `aggregate` say.

    Rates always add up (messages arriving on any queue need a consumer);
    `aggregate` decides only how the backlogs combine.
    """
    counted = [s.messages_ready if policy.count is CountMode.READY else s.messages for s in samples]
    backlog = max(counted, default=0) if policy.aggregate is Aggregate.MAX else sum(counted)
    return Demand(
        backlog=float(backlog),
        ready=sum(s.messages_ready for s in samples),
        unacknowledged=sum(s.messages_unacknowledged for s in samples),
        publish_rate=_sum_known(s.publish_rate for s in samples),
        ack_rate=_sum_known(s.ack_rate for s in samples),
        consumers=max((s.consumers for s in samples), default=0),
    )


def learn_throughput(previous: float | None, demand: Demand) -> float | None:
    """Update the per-replica throughput estimate from one observation.

    While messages wait (`ready > 0`) the consumers are busy, so ack rate per
    consumer *is* their throughput: blend it in. Otherwise consumers idle part
    of the time and the figure is only a lower bound: it may raise the
    estimate, never lower it.
    """
    if demand.consumers <= 0 or not demand.ack_rate or demand.ack_rate <= 0:
        return previous
    per_replica = demand.ack_rate / demand.consumers
    if previous is None:
        return per_replica
    if demand.ready > 0:
        return previous + THROUGHPUT_SMOOTHING * (per_replica - previous)
    return max(previous, per_replica)


def replicas_needed(demand: Demand, policy: Policy, throughput: float | None) -> float | None:
    """The replica count (unrounded) the demand asks for, or None if unknown.

    None means rate-aware mode without a throughput estimate and without a
    `messages-per-replica` floor to fall back on.
    """
    by_backlog = (
        demand.backlog / policy.messages_per_replica if policy.messages_per_replica else None
    )
    if not policy.rate_aware:
        return by_backlog
    assert policy.target_drain_seconds is not None
    if not throughput:
        return by_backlog
    by_rate = (demand.publish_rate or 0.0) / throughput + demand.backlog / (
        throughput * policy.target_drain_seconds
    )
    return by_rate if by_backlog is None else max(by_rate, by_backlog)


def whole_replicas(needed: float) -> int:
    """Round a fractional need up, ignoring float noise (3.0000000001 → 3).

    Absurd needs (overflowing, NaN) become `MAX_NEED`; the policy's bounds
    then apply as for any other large need.
    """
    if not needed < MAX_NEED:  # also catches NaN
        return MAX_NEED
    return max(0, math.ceil(needed - _EPSILON))


def _sum_known(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(sum(known)) if known else None
