"""The benchmark's scores (docs/benchmark-model.md), from a finished run.

Scores are computed from the recorded series only, never inside the loop, so
a chart and a score can never disagree about what happened.

With a scenario's `score_from` F above 0, the seconds before F are history a
controller may learn from: every score counts only seconds t ≥ F (the wait
histogram already holds only messages that arrived from F on). A reversal is a
property of one change (opposite to the change before it, within 120 s), so a
change at t ≥ F that reverses one made just before F counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from itertools import pairwise

from qscaler.sim.world import RunResult, ScaleChange

#: A change opposite to the previous one at most this long after it is a reversal.
REVERSAL_SECONDS = 120


@dataclass(frozen=True, slots=True)
class Scores:
    """One row of the comparison table."""

    replica_seconds: int
    busy_seconds: float
    utilization: float
    p50_wait: int
    p95_wait: int
    p99_wait: int
    max_wait: int
    slo_met: bool
    max_backlog: float
    scale_changes: int
    reversals: int
    pod_starts: int

    def as_dict(self) -> dict[str, int | float | bool]:
        """The scores by name, in table order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def score(result: RunResult) -> Scores:
    """Every score of §4 for one run."""
    start = result.scenario.score_from
    replica_seconds = sum(result.replicas[start:])
    busy_seconds = sum(result.processed[start:]) / result.scenario.service_rate
    scored_changes = [c for c in result.changes if c.at >= start]
    p95 = wait_percentile(result.wait_histogram, 95)
    return Scores(
        replica_seconds=replica_seconds,
        busy_seconds=busy_seconds,
        utilization=busy_seconds / replica_seconds if replica_seconds else 0.0,
        p50_wait=wait_percentile(result.wait_histogram, 50),
        p95_wait=p95,
        p99_wait=wait_percentile(result.wait_histogram, 99),
        max_wait=max_wait(result.wait_histogram),
        slo_met=p95 <= result.scenario.slo_seconds,
        max_backlog=max(result.backlog[start:], default=0.0),
        scale_changes=len(scored_changes),
        reversals=count_reversals(result.changes, since=start),
        pod_starts=count_pod_starts(scored_changes),
    )


def wait_percentile(histogram: Sequence[float], percent: int) -> int:
    """The smallest wait whose cumulative message count reaches `percent` % of all (§5.8).

    `histogram[w]` is the number of messages that waited w seconds; 0 when
    there are none. Compared as `100 · cumulative ≥ percent · total`, which is
    exact for whole-number counts.
    """
    total = sum(histogram)
    if total <= 0:
        return 0
    cumulative = 0.0
    for wait, amount in enumerate(histogram):
        cumulative += amount
        if 100 * cumulative >= percent * total:
            return wait
    return len(histogram) - 1  # float noise only: the last bucket holds the rest


def max_wait(histogram: Sequence[float]) -> int:
    """The largest wait carried by a positive amount of messages; 0 when there are none."""
    return max((wait for wait, amount in enumerate(histogram) if amount > 0), default=0)


def count_reversals(changes: Sequence[ScaleChange], since: int = 0) -> int:
    """Changes at t ≥ `since` that reverse the previous change within 120 s (§5.10)."""
    return sum(
        1
        for previous, change in pairwise(changes)
        if change.at >= since
        and change.up != previous.up
        and change.at - previous.at <= REVERSAL_SECONDS
    )


def count_pod_starts(changes: Sequence[ScaleChange]) -> int:
    """Every replica a change added is a pod that starts (§4): Σ max(0, after − before)."""
    return sum(max(0, c.after - c.before) for c in changes)
