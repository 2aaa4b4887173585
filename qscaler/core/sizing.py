"""Rate-aware sizing: how many replicas absorb the arrivals and keep the queue short. Pure.

Three terms, each with a reason a user can check against a graph:

* **sustain**: the arrival rate, averaged over `rate-window`, divided by the
  per-replica throughput learned from the broker's ack rate
  (`qscaler.core.throughput`). This is what keeps up with the traffic.
* **standing queue**: a queue of `standing-wait` seconds of arrivals is not a
  problem but the point: replicas with messages waiting never idle, and an
  idle ready replica is the one replica-second that buys nothing. Below that
  depth the need is a little under the sustain term, so the count settles at
  the lower of two whole numbers and the queue makes up the fraction.
* **drain**: messages queued beyond the standing queue are drained within
  `target-drain-seconds`.

    need = rate / throughput + (queued − rate · standing-wait) / (throughput · target-drain)

A **surge** (Knative calls it panic mode) is a jump the average would follow
too slowly: when the need computed from the newest sample alone is at least
`surge-threshold` times the current count *and* the queue confirms it (more
queued than the current replicas drain within the target, or the queue grew
over two stats intervals in a row — one burst that the replicas absorb is not
a surge), qscaler sizes at once for the queue as it will be when new
replicas have started (the learned start-up time), and keeps doing so for one
rate window, until the average has caught up. One sample is sized with the
average rate (it may be one burst); a queue rising over two intervals with
the newest rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from qscaler.core.policy import Policy


@dataclass(frozen=True, slots=True)
class Estimates:
    """What rate-aware sizing knows about the workload right now.

    `throughput` is per replica, as sizing should use it (see
    `Throughput.for_sizing`); `startup` is 0 until it has been measured.
    """

    throughput: float
    average: float  # publish rate averaged over the rate window
    latest: float  # publish rate of the newest sample
    startup: float  # until replicas requested now consume
    pending: float  # until the replicas already starting consume (≤ startup)


@dataclass(frozen=True, slots=True)
class Queue:
    """The queue as sizing sees it: waiting messages and the replicas consuming them."""

    queued: int
    consumers: int
    rising_twice: bool = False


def sustain_need(rate: float, queued: int, throughput: float, policy: Policy) -> float:
    """Replicas for `rate`, with the queue held near its standing depth (never negative)."""
    excess = queued - rate * policy.standing_wait_seconds
    return max(0.0, rate / throughput + excess / (throughput * _drain_seconds(policy)))


def surging(queue: Queue, est: Estimates, policy: Policy, current: int) -> bool:
    """Whether the newest sample shows a surge that the queue confirms (module docstring)."""
    need = sustain_need(est.latest, queue.queued, est.throughput, policy)
    if need < policy.surge_threshold * max(current, 1):
        return False
    drainable = current * est.throughput * _drain_seconds(policy)
    return queue.queued > drainable or queue.rising_twice


def surge_need(queue: Queue, est: Estimates, policy: Policy) -> float:
    """Replicas for the surge's arrival rate and for the queue there will be when they start.

    Until the replicas being started consume, the queue grows by what arrives
    beyond the current consumers' throughput; they then drain what exceeds
    the standing queue within the drain target, as the sustain term does.
    (Racing to drain within what a start-up leaves of the target started
    twice the pods the need settled at, which were removed a minute later:
    measured in the benchmark.) Counting the growth from the scale-up
    already under way, not from now, keeps the next polls of the same surge
    from asking again for what is on its way.
    """
    rate = surge_rate(queue, est)
    shortfall = max(0.0, rate - queue.consumers * est.throughput)
    projected = queue.queued + shortfall * est.pending
    excess = max(0.0, projected - rate * policy.standing_wait_seconds)
    return rate / est.throughput + excess / (est.throughput * _drain_seconds(policy))


def surge_rate(queue: Queue, est: Estimates) -> float:
    """The arrival rate a surge is sized for.

    One sample showing a high rate may be one burst (a few seconds of
    publishing averaged over the stats interval): it is evidence of a
    backlog, not of a rate, so it is sized with the average rate. A queue
    that grew over two intervals in a row is evidence of a rate.
    """
    return max(est.latest, est.average) if queue.rising_twice else est.average


def _drain_seconds(policy: Policy) -> float:
    assert policy.target_drain_seconds is not None
    return policy.target_drain_seconds
