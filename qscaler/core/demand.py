"""Turn a workload's queue samples into one demand figure, and round needs to replicas.

Every sizing strategy (`qscaler.core.strategy`) sizes from a `Demand`, and
the rules they share are written here once: idle means 0 (`IDLE`), the
backlog ÷ messages-per-replica (`backlog_need`, `backlog_sized`), and
rounding a need to whole replicas. Two ways to size use them:

* backlog mode (`qscaler.core.backlog`): `ceil(backlog / messages-per-replica)`,
  the rule every queue autoscaler shares (KEDA's QueueLength, the original
  bash script);
* rate-aware mode (`qscaler.core.rate_aware`, `qscaler.core.sizing`): enough
  replicas to absorb the publish rate and keep the queue short, using the
  per-replica throughput the workload has shown. It needs no tuning constant
  and reacts to the arrival rate before a backlog builds; messages-per-replica,
  when set, is its floor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from qscaler.core.model import QueueSample
from qscaler.core.policy import Aggregate, CountMode, Policy

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
    publish_sample: float | None = None  # the latest broker sample, unsmoothed
    ack_sample: float | None = None

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing in flight, nothing arriving.

        "Arriving" is judged on the latest broker sample when there is one: a
        smoothed rate decays towards 0 but never reaches it.
        """
        arriving = self.publish_sample if self.publish_sample is not None else self.publish_rate
        return self.ready == 0 and self.unacknowledged == 0 and not arriving


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
        publish_sample=_sum_known(s.publish_rate_sample for s in samples),
        ack_sample=_sum_known(s.ack_rate_sample for s in samples),
    )


@dataclass(frozen=True, slots=True)
class Sized:
    """A sizing mode's unrounded need (None while it cannot tell yet) and why."""

    need: float | None
    note: str


#: Every mode's first rule: nothing queued, in flight or arriving needs no replica.
IDLE = Sized(0.0, "nothing queued, in flight or arriving: need 0")


def backlog_need(demand: Demand, per_replica: float) -> float:
    """The rule every queue autoscaler shares: the backlog ÷ messages per replica."""
    return demand.backlog / per_replica


def backlog_sized(demand: Demand, per_replica: float) -> Sized:
    """Backlog mode's need: 0 when idle, else `backlog_need`, with its arithmetic."""
    if demand.idle:
        return IDLE
    need = backlog_need(demand, per_replica)
    return Sized(need, f"backlog {demand.backlog:g} ÷ {per_replica:g} per replica = {need:.2f}")


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
