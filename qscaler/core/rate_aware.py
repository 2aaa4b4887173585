"""Rate-aware mode as a strategy: learn from each observation, then size. Pure.

`learn` folds one trusted observation into what the mode knows about the
workload (per-replica throughput, the averaged arrival rate, the start-up
time), `need_and_surge` turns that into a replica need with a sentence
saying why, and `RateAware` puts them together for decide()'s pipeline, with
the floor that keeps consuming replicas while a queue drains. What it learns
is its own `RateAwareState`, held in `History.rate_aware`.
"""

from __future__ import annotations

from dataclasses import replace

from qscaler.core import sizing, startup
from qscaler.core.arrivals import average_rate, latest_rate
from qscaler.core.demand import IDLE, Demand, Sized, backlog_need, backlog_sized
from qscaler.core.model import Change, History
from qscaler.core.policy import Policy
from qscaler.core.rate_aware_state import RateAwareState, Reading
from qscaler.core.reasons import Reason
from qscaler.core.strategy import Floor, Sizing
from qscaler.core.throughput import PROBE, Throughput, learn_throughput


class RateAware:
    """Size for the arrivals and a short queue, at the throughput the replicas have shown."""

    def size(
        self, demand: Demand, policy: Policy, history: History, current: int, now: float
    ) -> Sizing:
        """Learn, size and name the draining floor; tolerance holds only upward.

        Below the count, the need's whole replicas are kept as they are: the
        standing queue already makes the need settle on the lower of two.
        """
        before = history.rate_aware
        taught = learn(before, demand, policy, now)
        sized, surge_until = need_and_surge(
            demand, policy, before, taught, history.changes, current, now
        )
        taught = replace(taught, surge_until=surge_until)
        return Sizing(
            sized,
            replace(history, rate_aware=taught),
            tolerance_down=False,
            kept_at=_draining(demand, policy, taught, current),
            throughput=taught.throughput,
        )

    def settle(self, history: History, current: int, desired: int, now: float) -> History:
        """Start timing a scale-up (or forget one a scale-down cancelled): the start-up time."""
        state = history.rate_aware
        starting = startup.timing(state.starting, current, desired, now)
        return replace(history, rate_aware=replace(state, starting=starting))


def learn(state: RateAwareState, demand: Demand, policy: Policy, now: float) -> RateAwareState:
    """The state after one more trusted observation."""
    last = state.last
    learned = learn_throughput(_throughput(state), demand, last)
    elapsed = now - last.at if last is not None else 0.0
    average = average_rate(
        state.arrival_rate, latest_rate(demand), elapsed, policy.rate_window_seconds
    )
    starting, startup_seconds = startup.timed(
        state.starting, state.startup_seconds, demand.consumers, now
    )
    rising = last is not None and demand.ready > last.queued
    return replace(
        state,
        throughput=learned.per_replica if learned else None,
        throughput_confirmed=learned.confirmed if learned else False,
        arrival_rate=average,
        starting=starting,
        startup_seconds=startup_seconds,
        last=Reading(at=now, consumers=demand.consumers, queued=demand.ready, rising=rising),
    )


def need_and_surge(
    demand: Demand,
    policy: Policy,
    before: RateAwareState,
    state: RateAwareState,
    changes: tuple[Change, ...],
    current: int,
    now: float,
) -> tuple[Sized, float | None]:
    """The need for this observation, and until when a surge is being absorbed.

    `before` is the state `learn` started from. An idle queue needs nothing
    and ends any surge; so does a throughput not learned yet.
    """
    if demand.idle:
        return IDLE, None
    learned = _throughput(state)
    if learned is None:
        return _unknown_throughput(demand, policy), None
    est = _estimates(demand, state, learned, changes, now)
    queue = sizing.Queue(
        queued=demand.ready,
        consumers=demand.consumers,
        rising_twice=_rising(state) and _rising(before),
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
    return Sized(_with_floor(need, demand, policy), note), surge_until


def _draining(demand: Demand, policy: Policy, state: RateAwareState, current: int) -> Floor | None:
    """Never remove a consuming replica while messages wait beyond the standing queue.

    A busy replica is not waste: the queued messages need its work either
    way, and removing it only makes them wait longer for the same bill.
    """
    standing = (state.arrival_rate or 0.0) * policy.standing_wait_seconds
    if demand.ready <= standing:
        return None
    busy = min(current, demand.consumers)
    return Floor(
        busy, Reason.DRAINING,
        f"{demand.ready} messages queued (standing queue {standing:.0f}): keeping the "
        f"{busy} consuming replicas until it drains",
    )  # fmt: skip


def _estimates(
    demand: Demand,
    state: RateAwareState,
    learned: Throughput,
    changes: tuple[Change, ...],
    now: float,
) -> sizing.Estimates:
    startup_seconds = state.startup_seconds or 0.0
    return sizing.Estimates(
        throughput=learned.for_sizing,
        average=state.arrival_rate or 0.0,
        latest=latest_rate(demand) or 0.0,
        startup=startup_seconds,
        pending=_pending(state, changes, startup_seconds, now),
    )


def _rising(state: RateAwareState) -> bool:
    return state.last is not None and state.last.rising


def _unknown_throughput(demand: Demand, policy: Policy) -> Sized:
    """Before any ack has been seen, a busy queue needs at least 1 (or its backlog's worth)."""
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


def _throughput(state: RateAwareState) -> Throughput | None:
    if state.throughput is None:
        return None
    return Throughput(state.throughput, state.throughput_confirmed)


def _pending(
    state: RateAwareState, changes: tuple[Change, ...], startup_seconds: float, now: float
) -> float:
    """Seconds until the oldest scale-up not yet consuming does; the start-up time if none.

    The scale-ups are the history's recent changes (the rate-limit window):
    one whose new count the consumers have not reached is still starting.
    """
    consumers = state.last.consumers if state.last is not None else 0
    starting = [c.at for c in changes if c.after > max(c.before, consumers)]
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
