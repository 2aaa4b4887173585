"""qscaler against every tuned KEDA configuration at once (docs/benchmark-model.md).

Best-tuned KEDA is one point; an operator who knows the trace could pick any
of the 160 configurations. These scores ask whether any of them beats
qscaler on both cost and latency (`dominated_by`), and, among those at least
as fast as qscaler, what the cheapest one costs and how many pods it starts
(`cost_at_equal_latency`, `starts_at_equal_latency`). They read only scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qscaler.sim.scores import Scores


@dataclass(frozen=True, slots=True)
class Frontier:
    """qscaler's standing among the configurations; None where no configuration is as fast."""

    dominated_by: int
    as_fast: int | None  # position of the cheapest configuration with p95 ≤ qscaler's
    cost_at_equal_latency: float | None
    starts_at_equal_latency: float | None


def dominates(theirs: Scores, ours: Scores) -> bool:
    """At most our replica-seconds and p95 wait, and strictly less in one of them."""
    no_worse = theirs.replica_seconds <= ours.replica_seconds and theirs.p95_wait <= ours.p95_wait
    better = theirs.replica_seconds < ours.replica_seconds or theirs.p95_wait < ours.p95_wait
    return no_worse and better


def frontier(ours: Scores, configurations: Sequence[Scores]) -> Frontier:
    """Where qscaler stands among `configurations` (in grid order; ties go to the first)."""
    dominated_by = sum(1 for theirs in configurations if dominates(theirs, ours))
    fast = [i for i, theirs in enumerate(configurations) if theirs.p95_wait <= ours.p95_wait]
    if not fast:
        return Frontier(dominated_by, None, None, None)
    best = min(fast, key=lambda i: (configurations[i].replica_seconds, i))
    cheapest = configurations[best]
    return Frontier(
        dominated_by=dominated_by,
        as_fast=best,
        cost_at_equal_latency=_ratio(ours.replica_seconds, cheapest.replica_seconds),
        starts_at_equal_latency=_ratio(ours.pod_starts, cheapest.pod_starts),
    )


def _ratio(ours: float, theirs: float) -> float | None:
    """ours ÷ theirs; 1.0 when both are 0, None (no finite ratio) when only theirs is."""
    if theirs == 0:
        return 1.0 if ours == 0 else None
    return ours / theirs
