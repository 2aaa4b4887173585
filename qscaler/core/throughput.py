"""Learn how many messages per second one replica processes, from what the broker shows.

Rate-aware sizing divides the arrival rate by this figure, so a wrong figure
is a wrong replica count in proportion: half the real throughput doubles the
bill. Two traps make the naive `ack_rate / consumers` wrong:

* Idle consumers: when nothing waits, a consumer acks only what arrives, so
  ack / consumers is a *lower bound* on what it could do. Only an interval
  with messages waiting at both ends measures throughput; others may raise
  the estimate, never lower it.
* Stale, mixed intervals: RabbitMQ's ack rate covers the last stats interval
  while `consumers` is counted at its end. If replicas joined or left in
  between, the two do not match. An interval counts only when the previous
  reading showed the same number of consumers. The smoothed ack rate mixes
  older intervals with other consumer counts, so the raw sample is used.

An estimate that is only a lower bound is marked unconfirmed; sizing probes
slightly above it (`PROBE`) so that the replicas either keep up (the bound
rises) or let a queue form (the real figure is measured). Pure and I/O-free.
"""

from __future__ import annotations

from dataclasses import dataclass

from qscaler.core.demand import Demand
from qscaler.core.rate_aware_state import Reading

#: Weight of a new busy-consumer measurement in the learned estimate.
SMOOTHING = 0.5
#: How far above an unconfirmed (lower-bound) estimate sizing assumes the
#: real throughput to be.
PROBE = 0.1


@dataclass(frozen=True, slots=True)
class Throughput:
    """The per-replica throughput estimate and whether it was measured on busy consumers."""

    per_replica: float
    confirmed: bool

    @property
    def for_sizing(self) -> float:
        """The figure to size with: the estimate, or a little above a mere lower bound."""
        return self.per_replica if self.confirmed else self.per_replica * (1 + PROBE)


def learn_throughput(
    previous: Throughput | None, demand: Demand, last: Reading | None
) -> Throughput | None:
    """The estimate after one more observation (see the module docstring)."""
    measured = _per_consumer(demand, last)
    if measured is None:
        return previous
    if demand.ready > 0 and last is not None and last.queued > 0:  # busy throughout
        if previous is None or not previous.confirmed:
            return Throughput(measured, confirmed=True)
        blended = previous.per_replica + SMOOTHING * (measured - previous.per_replica)
        return Throughput(blended, confirmed=True)
    if previous is None or measured > previous.per_replica:
        return Throughput(measured, confirmed=previous is not None and previous.confirmed)
    return previous


def _per_consumer(demand: Demand, last: Reading | None) -> float | None:
    """Acks per consumer over the last interval, when its two ends saw the same consumers."""
    ack = demand.ack_sample if demand.ack_sample is not None else demand.ack_rate
    consumers = demand.consumers
    if not ack or ack <= 0 or consumers <= 0:
        return None
    if last is None or last.consumers != consumers:
        return None  # consumers changed within the interval: the rate is a mix
    measured = ack / consumers
    return measured if measured > 0 else None  # an ack rate so small it divides to nothing
