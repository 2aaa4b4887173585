"""decide(): from queue samples to a replica count, with a reason. Pure.

No I/O, no clock, no logging, no globals: the same inputs give the same
`Decision` and the same new `History`. That is what makes the table tests,
the property tests, the simulator and the benchmark exact and cheap.

The pipeline, each step recording why it changed the count:

    trust the data?  ── no ──▶ hold (or raise to fallback-replicas): never lower
        │ yes
    size             the policy's strategy learns and says the need
                     (qscaler.core.strategies: backlog ÷ messages-per-replica,
                     rate-aware, or rate-aware with the forecast)
    recommend        the need in whole replicas
    activation       at 0: wake only above activation-messages;
                     above 0: do not drop to 0 while messages arrive or are in flight
    tolerance        no change when the need is within ±tolerance of the count
                     (or only above it, when the strategy says so)
    raised floor     the strategy's floor, if any (the forecast): only ever raises
    bounds           clamp to [min-replicas, max-replicas]: the recommendation
    scale-up limit   at most N (or N %) more per minute
    stabilization    scale down only to the highest recommendation of the cooldown window
    kept floor       a scale-down stops at the strategy's floor, if any
                     (rate-aware: replicas consuming a queue that is still draining)
    scale-down limit at most N (or N %) fewer per minute
    settle           the strategy learns from the outcome (rate-aware: start-up timing)

No step asks which mode the policy is in: what differs between modes is the
strategy's (qscaler.core.strategy), and each keeps its own state in `History`.

Clamping before the limits (rather than last) gives the same count and the
truer reason: a workload held at its min is `AtMin`, not `Stabilizing`.

The Kubernetes HPA has the same steps in `replica_calculator.go` and
`horizontal.go`, but its stabilization reads the clock and mutates controller
state; here the window travels in `History`, in and out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction

from qscaler.core.demand import Demand, Sized, measure, whole_replicas
from qscaler.core.model import (
    Change,
    Decision,
    ForecastFigures,
    History,
    Observation,
    QueueFigures,
)
from qscaler.core.policy import Mode, Policy, StepLimit
from qscaler.core.reasons import Reason
from qscaler.core.strategies import strategy_for
from qscaler.core.strategy import Floor

#: Reasons that explain a count that moved, but less far than recommended.
_LIMITING = frozenset(
    {
        Reason.SCALE_UP_LIMITED,
        Reason.SCALE_DOWN_LIMITED,
        Reason.STABILIZING,
        Reason.AT_MAX,
        Reason.AT_MIN,
        Reason.DRAINING,
    }
)


#: Reasons that name the outcome whichever way the count moved: the limits,
#: and a forecast (which raised the count above what the queue asked for).
_NAMING = _LIMITING | {Reason.FORECAST}


@dataclass(slots=True)
class _Draft:
    """The count as it passes through the pipeline, with the story so far."""

    value: int
    reason: Reason | None = None
    notes: list[str] = field(default_factory=list)

    def set(self, value: int, reason: Reason | None, note: str) -> None:
        self.value, self.reason = value, reason
        self.notes.append(note)


def decide(
    samples: Observation, current: int, policy: Policy, history: History, now: float
) -> tuple[Decision, History]:
    """Decide the replica count for one workload. Pure: see the module docstring."""
    history = _prune(_begin(history, current, now), policy, now)
    if policy.mode is Mode.PAUSED:
        return _hold(current, Reason.PAUSED, "paused by qscaler.io/mode; holding"), history
    distrust = _distrust(samples, policy, now)
    if distrust is not None:
        return _untrusted(current, policy, history, now, distrust)

    demand = measure(samples.queues, policy)
    strategy = strategy_for(policy)
    sizing = strategy.size(demand, policy, history, current, now)

    draft = _Draft(current)
    _recommend(draft, demand, sizing.sized)
    _activation(draft, demand, policy, current)
    if sizing.tolerance_down or draft.value >= current:
        _tolerance(draft, sizing.sized.need, policy, current)
    _floor(draft, sizing.raised_to)
    _bounds(draft, policy)
    recommended = draft.value
    window = (*history.recommendations, (now, recommended))
    if draft.value > current:
        _limit_up(draft, policy.scale_up_limit, current, history.changes)
    elif draft.value < current:
        _stabilize(draft, window, policy, current)
        _floor(draft, sizing.kept_at)
        _limit_down(draft, policy.scale_down_limit, current, history.changes)
    _bounds(draft, policy)  # again: a window from before max-replicas was lowered

    decision = Decision(
        current=current,
        desired=draft.value,
        reason=_final_reason(draft, current),
        message="; ".join(draft.notes),
        recommended=recommended,
        backlog=demand.backlog,
        throughput=sizing.throughput,
        figures=_figures(demand, sizing.forecast),
    )
    new_history = replace(
        sizing.history,
        recommendations=window,
        changes=_with_change(history.changes, now, current, draft.value),
        failures=0,
    )
    return decision, strategy.settle(new_history, current, draft.value, now)


def _begin(history: History, current: int, now: float) -> History:
    """A fresh history starts as if `current` had been recommended just now.

    So a restarted qscaler waits a full cooldown before it lowers anything:
    it picks up from the cluster's state without a burst of scale-downs.
    """
    if history.started_at is not None:
        return history
    return replace(history, started_at=now, recommendations=((now, current),))


def _prune(history: History, policy: Policy, now: float) -> History:
    return replace(
        history,
        recommendations=tuple(
            (at, n) for at, n in history.recommendations if now - at < policy.cooldown_seconds
        ),
        changes=tuple(c for c in history.changes if now - c.at < policy.limit_window_seconds),
    )


def _hold(current: int, reason: Reason, message: str) -> Decision:
    return Decision(current=current, desired=current, reason=reason, message=message)


def _distrust(samples: Observation, policy: Policy, now: float) -> tuple[Reason, str] | None:
    """Why the samples cannot be trusted, or None when they can."""
    if samples.error is not None:
        return Reason.SOURCE_ERROR, f"queue source failed: {samples.error}"
    if (unread := _unread_queues(samples, policy)) is not None:  # missing, backlog unknown
        return unread
    if samples.observed_at is None:
        return Reason.SOURCE_STALE, "no queue data yet"
    age = now - samples.observed_at
    if age > policy.stale_after_seconds:
        return (
            Reason.SOURCE_STALE,
            f"queue data is {age:.0f}s old (stale after {policy.stale_after_seconds:g}s)",
        )
    if not samples.queues:
        return (
            Reason.QUEUE_MISSING,
            f"no queue in vhost {policy.queues.vhost!r} matches {policy.queues.describe()}",
        )
    return None


def _unread_queues(samples: Observation, policy: Policy) -> tuple[Reason, str] | None:
    if samples.missing:
        names = ", ".join(samples.missing)
        return Reason.QUEUE_MISSING, f"queue not found in vhost {policy.queues.vhost!r}: {names}"
    if samples.backlog_unknown:
        why = "; ".join(f"{name!r}: {reason}" for name, reason in samples.backlog_unknown)
        return Reason.BACKLOG_UNKNOWN, f"backlog cannot be read for {why}"
    return None


def _untrusted(
    current: int, policy: Policy, history: History, now: float, distrust: tuple[Reason, str]
) -> tuple[Decision, History]:
    """Hold on data that cannot be trusted; only ever raise (to min or fallback)."""
    reason, why = distrust
    failures = history.failures + 1
    desired, notes = current, [why, "holding: never scale down on untrusted data"]
    if current < policy.min_replicas:
        desired = policy.min_replicas
        notes.append(f"raising to min-replicas {desired}")
    fallback = policy.fallback_replicas
    if fallback is not None and failures >= policy.fallback_after_failures and fallback > desired:
        desired, reason = fallback, Reason.FALLBACK
        notes.append(f"{failures} failed polls in a row: fallback-replicas {fallback}")
    decision = Decision(current=current, desired=desired, reason=reason, message="; ".join(notes))
    new_history = replace(
        history, failures=failures, changes=_with_change(history.changes, now, current, desired)
    )
    return decision, new_history


def _recommend(draft: _Draft, demand: Demand, sized: Sized) -> None:
    if sized.need is None:
        draft.set(
            max(draft.value, 1), None,
            f"backlog {demand.backlog:g}: {sized.note}, at least 1 replica",
        )  # fmt: skip
        return
    draft.set(whole_replicas(sized.need), None, sized.note)


def _activation(draft: _Draft, demand: Demand, policy: Policy, current: int) -> None:
    active = demand.backlog > policy.activation_messages
    if current == 0:
        if not active:
            draft.set(
                0, Reason.BELOW_ACTIVATION,
                f"backlog {demand.backlog:g} ≤ activation-messages "
                f"{policy.activation_messages:g}: staying at 0",
            )  # fmt: skip
        elif draft.value == 0:
            draft.set(1, None, "above activation-messages: waking to 1")
    elif draft.value == 0 and (active or not demand.idle):
        draft.set(
            1, Reason.IN_FLIGHT,
            "messages still queued, arriving or unacknowledged: not scaling to 0",
        )  # fmt: skip


def _tolerance(draft: _Draft, needed: float | None, policy: Policy, current: int) -> None:
    if current == 0 or needed is None or draft.value in (0, current):
        return
    if _within(needed, current, policy.tolerance):
        draft.set(
            current, Reason.WITHIN_TOLERANCE,
            f"need {needed:.2f} is within {policy.tolerance:.0%} of {current}: no change",
        )  # fmt: skip


def _within(needed: float, current: int, tolerance: float) -> bool:
    """|needed / current − 1| ≤ tolerance, exactly: in floats 11/10 − 1 exceeds 0.1.

    The tolerance is taken as the decimal it was written as (`0.1` is 1/10).
    """
    if not math.isfinite(needed):  # an absurd need is never within tolerance
        return False
    return abs(Fraction(needed) - current) <= Fraction(str(tolerance)) * current


def _limit_up(
    draft: _Draft, limit: StepLimit | None, current: int, changes: tuple[Change, ...]
) -> None:
    if limit is None:
        return
    added = sum(max(0, c.after - c.before) for c in changes)
    base = max(0, current - added)
    allowed = max(limit.largest_up(base), current)
    if draft.value > allowed:
        draft.set(
            allowed, Reason.SCALE_UP_LIMITED,
            f"scale-up-limit {limit}/min from {base} allows {allowed}",
        )  # fmt: skip


def _stabilize(
    draft: _Draft, window: tuple[tuple[float, int], ...], policy: Policy, current: int
) -> None:
    ceiling = min(current, max(n for _, n in window))
    if ceiling > draft.value:
        draft.set(
            ceiling, Reason.STABILIZING,
            f"highest recommendation in the last {policy.cooldown_seconds:g}s is {ceiling}",
        )  # fmt: skip


def _limit_down(
    draft: _Draft, limit: StepLimit | None, current: int, changes: tuple[Change, ...]
) -> None:
    if limit is None:
        return
    removed = sum(max(0, c.before - c.after) for c in changes)
    base = current + removed
    allowed = min(limit.smallest_down(base), current)
    if draft.value < allowed:
        draft.set(
            allowed, Reason.SCALE_DOWN_LIMITED,
            f"scale-down-limit {limit}/min from {base} allows {allowed}",
        )  # fmt: skip


def _bounds(draft: _Draft, policy: Policy) -> None:
    if draft.value > policy.max_replicas:
        draft.set(policy.max_replicas, Reason.AT_MAX, f"max-replicas {policy.max_replicas}")
    elif draft.value < policy.min_replicas:
        draft.set(policy.min_replicas, Reason.AT_MIN, f"min-replicas {policy.min_replicas}")


def _final_reason(draft: _Draft, current: int) -> Reason:
    """The step that shaped the outcome, or the plain direction of travel.

    Waking from zero and going to zero are named as such even when a limit
    shaped the count: they are the events an operator looks for.
    """
    desired = draft.value
    if current == 0 and desired > 0:
        return Reason.SCALE_FROM_ZERO
    if desired == 0 and current > 0:
        return Reason.SCALE_TO_ZERO
    if draft.reason is not None and (desired == current or draft.reason in _NAMING):
        return draft.reason
    if desired == current:
        return Reason.STEADY
    return Reason.SCALE_UP if desired > current else Reason.SCALE_DOWN


def _with_change(
    changes: tuple[Change, ...], now: float, current: int, desired: int
) -> tuple[Change, ...]:
    if desired == current:
        return changes
    return (*changes, Change(at=now, before=current, after=desired))


def _floor(draft: _Draft, floor: Floor | None) -> None:
    """Raise to the strategy's floor (never lower); one not applied is only noted."""
    if floor is None or floor.replicas <= draft.value:
        return
    if not floor.applied:
        draft.notes.append(f"{floor.note}; not applied")
        return
    draft.set(floor.replicas, floor.reason, floor.note)


def _figures(demand: Demand, forecast: ForecastFigures | None) -> QueueFigures:
    return QueueFigures(
        messages_ready=demand.ready,
        messages_unacknowledged=demand.unacknowledged,
        consumers=demand.consumers,
        publish_rate=demand.publish_rate,
        ack_rate=demand.ack_rate,
        forecast=forecast,
    )
