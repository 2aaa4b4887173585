"""Rate-aware mode's part of decide(): learn from each observation, then size. Pure.

`learn` folds one trusted observation into what the history knows about the
workload (per-replica throughput, the averaged arrival rate, the start-up
time); `size` turns that into a replica need with a sentence saying why.
Backlog mode needs neither: it divides the backlog by messages-per-replica.
"""

from __future__ import annotations

from dataclasses import replace

from qscaler.core import sizing, startup
from qscaler.core.arrivals import average_rate, latest_rate
from qscaler.core.demand import IDLE, Demand, Sized, backlog_need, backlog_sized
from qscaler.core.model import History, Reading
from qscaler.core.policy import Policy
from qscaler.core.throughput import PROBE, Throughput, learn_throughput


def learn(history: History, demand: Demand, policy: Policy, now: float) -> History:
    """The history after one more trusted observation."""
    last = history.last
    learned = learn_throughput(_throughput(history), demand, last)
    elapsed = now - last.at if last is not None else 0.0
    average = average_rate(
        history.arrival_rate, latest_rate(demand), elapsed, policy.rate_window_seconds
    )
    starting, startup_seconds = startup.timed(
        history.starting, history.startup_seconds, demand.consumers, now
    )
    rising = last is not None and demand.ready > last.queued
    return replace(
        history,
        throughput=learned.per_replica if learned else None,
        throughput_confirmed=learned.confirmed if learned else False,
        arrival_rate=average,
        starting=starting,
        startup_seconds=startup_seconds,
        last=Reading(at=now, consumers=demand.consumers, queued=demand.ready, rising=rising),
    )


def size(
    demand: Demand, policy: Policy, before: History, history: History, current: int, now: float
) -> Sized:
    """The need for this observation; `before` is the history `learn` started from."""
    learned = _throughput(history)
    if learned is None:
        return _unknown_throughput(demand, policy)
    if demand.idle:
        return IDLE
    est = _estimates(demand, history, learned, now)
    queue = sizing.Queue(
        queued=demand.ready,
        consumers=demand.consumers,
        rising_twice=_rising(history) and _rising(before),
    )
    need = sizing.sustain_need(est.average, demand.ready, est.throughput, policy)
    note = _sustain_note(est, demand, policy, need, learned)
    surge_until = before.surge_until
    if sizing.surging(queue, est, policy, current):
        surge_until = now + policy.rate_window_seconds
    if surge_until is not None and now < surge_until:
        surge = sizing.surge_need(queue, est, policy)
        if surge > need:
            need, note = surge, _surge_note(est, queue, surge)
    return Sized(_with_floor(need, demand, policy), note, surge_until)


def _estimates(
    demand: Demand, history: History, learned: Throughput, now: float
) -> sizing.Estimates:
    startup_seconds = history.startup_seconds or 0.0
    return sizing.Estimates(
        throughput=learned.for_sizing,
        average=history.arrival_rate or 0.0,
        latest=latest_rate(demand) or 0.0,
        startup=startup_seconds,
        pending=_pending(history, startup_seconds, now),
    )


def _rising(history: History) -> bool:
    return history.last is not None and history.last.rising


def _unknown_throughput(demand: Demand, policy: Policy) -> Sized:
    """Before any ack has been seen: an idle queue needs nothing, a busy one at least 1."""
    if demand.idle:
        return IDLE
    why = "per-replica throughput not learned yet"
    if demand.ack_rate is None and demand.publish_rate is None:
        why = (
            "the broker reports no publish or ack rates for these queues (management "
            "statistics off, or no traffic yet), so per-replica throughput cannot be learned"
        )
    if policy.messages_per_replica:
        sized = backlog_sized(demand, policy.messages_per_replica)
        return replace(sized, note=f"{why}; {sized.note}")
    if demand.ack_rate is None and demand.publish_rate is None:
        return Sized(None, f"{why}; set messages-per-replica to size on the backlog")
    return Sized(None, "learning per-replica throughput")


def _throughput(history: History) -> Throughput | None:
    if history.throughput is None:
        return None
    return Throughput(history.throughput, history.throughput_confirmed)


def _pending(history: History, startup_seconds: float, now: float) -> float:
    """Seconds until the oldest scale-up not yet consuming does; the start-up time if none.

    The scale-ups are the history's recent changes (the rate-limit window):
    one whose new count the consumers have not reached is still starting.
    """
    consumers = history.last.consumers if history.last is not None else 0
    starting = [c.at for c in history.changes if c.after > max(c.before, consumers)]
    if not starting:
        return startup_seconds
    return min(startup_seconds, max(0.0, min(starting) + startup_seconds - now))


def _with_floor(need: float, demand: Demand, policy: Policy) -> float:
    if policy.messages_per_replica:
        return max(need, backlog_need(demand, policy.messages_per_replica))
    return need


def _per_replica(est: sizing.Estimates, learned: Throughput) -> str:
    probe = "" if learned.confirmed else f" (a lower bound, probing {PROBE:.0%} above it)"
    return f"{est.throughput:.2f}/s per replica{probe}"


def _sustain_note(
    est: sizing.Estimates, demand: Demand, policy: Policy, need: float, learned: Throughput
) -> str:
    standing = est.average * policy.standing_wait_seconds
    return (
        f"arrivals {est.average:.1f}/s (over {policy.rate_window_seconds:g}s) at "
        f"{_per_replica(est, learned)}, {demand.ready} queued against a standing queue of "
        f"{standing:.0f} drained within {policy.target_drain_seconds:g}s: need {need:.2f}"
    )


def _surge_note(est: sizing.Estimates, queue: sizing.Queue, need: float) -> str:
    rate = sizing.surge_rate(queue, est)
    basis = "newest" if queue.rising_twice else "average"
    return (
        f"surge: {queue.queued} queued at {rate:.1f}/s arriving ({basis} rate), with "
        f"replicas consuming in {est.pending:.0f}s: need {need:.2f}"
    )
