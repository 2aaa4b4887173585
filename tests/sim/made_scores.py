"""Scores made by hand, for tests of what reads scores (tuning, the frontier)."""

from __future__ import annotations

from qscaler.sim.scores import Scores


def scored(
    replica_seconds: int, p95_wait: int, slo_met: bool | None = None, pod_starts: int = 0
) -> Scores:
    """Scores with these figures (SLO met at p95 ≤ 60 s unless said) and zeros elsewhere."""
    return Scores(
        replica_seconds=replica_seconds,
        busy_seconds=0.0,
        utilization=0.0,
        p50_wait=0,
        p95_wait=p95_wait,
        p99_wait=p95_wait,
        max_wait=p95_wait,
        slo_met=p95_wait <= 60 if slo_met is None else slo_met,
        max_backlog=0.0,
        scale_changes=0,
        reversals=0,
        pod_starts=pod_starts,
    )
