"""Which zero-replica workloads to watch between polls, and which to wake. Pure.

The management API counts a queue's messages only once per statistics
interval (5 s by default), and qscaler polls it once per poll interval, so a
workload parked at 0 replicas would see its first message up to two intervals
late. A passive `queue.declare` over AMQP answers in real time, but costs one
round trip per queue, so the activation probe declares only what can wake a
workload: the exact-named queues of workloads held at 0 (usually few; `re:`
matches need a listing and wake at the poll's pace).

`woken` applies the same activation rule as decide(): a workload at 0 wakes
when its backlog exceeds `activation-messages`. It only *triggers* a decision;
the decision itself is still decide()'s, on the observation with the probe's
ready counts raised in (`qscaler.core.select.raise_ready`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from qscaler.core.policy import Aggregate, Mode, Policy
from qscaler.core.workload import WorkloadRef

#: Ready counts by vhost, then by queue name, as a probe read them.
Ready = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True, slots=True)
class Sleeper:
    """A workload held at 0 replicas, with the exact-named queues that can wake it."""

    ref: WorkloadRef
    vhost: str
    names: tuple[str, ...]
    activation_messages: float
    aggregate: Aggregate = Aggregate.SUM


def sleeper(ref: WorkloadRef, policy: Policy, current: int) -> Sleeper | None:
    """The sleeper to watch for a workload held at `current`, or None.

    None when the workload runs, is paused, or binds no exact queue name.
    """
    if current != 0 or policy.mode is Mode.PAUSED or not policy.queues.names:
        return None
    return Sleeper(
        ref, policy.queues.vhost, policy.queues.names, policy.activation_messages, policy.aggregate
    )


def wanted(sleepers: Iterable[Sleeper]) -> dict[str, frozenset[str]]:
    """The queue names to declare, by vhost (each name once)."""
    names: dict[str, set[str]] = {}
    for s in sleepers:
        names.setdefault(s.vhost, set()).update(s.names)
    return {vhost: frozenset(n) for vhost, n in names.items()}


def share(
    wanting: Mapping[str, frozenset[str]], budget: int, turn: int
) -> tuple[dict[str, frozenset[str]], int]:
    """At most `budget` of the wanted names, by vhost, taking turns.

    Each declare costs a round trip and wakes a hibernating queue process on the
    broker, so a probe round is bounded; with more names than `budget`, each
    call continues where the previous one (`turn`) stopped. Returns the names
    to read now and the turn to pass next time.
    """
    pairs = sorted((vhost, name) for vhost, names in wanting.items() for name in names)
    if len(pairs) <= budget:
        return dict(wanting), 0
    start = turn % len(pairs)
    picked: dict[str, set[str]] = {}
    for vhost, name in (pairs[start:] + pairs[:start])[:budget]:
        picked.setdefault(vhost, set()).add(name)
    return {vhost: frozenset(names) for vhost, names in picked.items()}, start + budget


def woken(sleepers: Iterable[Sleeper], ready: Ready) -> list[WorkloadRef]:
    """The sleepers whose probed ready messages exceed their activation threshold.

    Queues the probe did not read (missing, or their vhost failed) count for
    nothing: the poll decides those.
    """
    found: list[WorkloadRef] = []
    for s in sleepers:
        counts = ready.get(s.vhost, {})
        known = [counts[n] for n in s.names if n in counts]
        backlog = max(known, default=0) if s.aggregate is Aggregate.MAX else sum(known)
        if backlog > s.activation_messages:
            found.append(s.ref)
    return found
