"""Score a live arm exactly as the simulator scores a simulated one.

The scores are the benchmark's (docs/benchmark-model.md): replica-seconds from
`spec.replicas` sampled once per second (what is billed), waits from the
`WaitBook` (the same weighted percentiles, messages still queued at the end
included), scale changes, reversals and pod starts from the sampled series.
The percentile, reversal and wait functions are the simulator's own, so a
live row and a simulated row can only differ in what happened, not in how it
was counted.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from kubernetes import client

from bench.race.emulator import Clock, WaitBook
from qscaler.sim.scores import count_pod_starts, count_reversals, max_wait, wait_percentile
from qscaler.sim.world import ScaleChange


@dataclass(frozen=True, slots=True)
class ArmScores:
    """One arm's row: the simulator's scores, from a live run."""

    replica_seconds: int
    p50_wait: int
    p95_wait: int
    p99_wait: int
    max_wait: int
    slo_met: bool
    scale_changes: int
    reversals: int
    pod_starts: int
    still_queued: int

    def as_dict(self) -> dict[str, int | bool]:
        """The scores by name, in table order."""
        return asdict(self)


def score_arm(replicas: Sequence[int], book: WaitBook, slo_seconds: float) -> ArmScores:
    """Every score of one arm from its per-second replicas and its waits."""
    changes = changes_of(replicas)
    histogram = book.histogram()
    p95 = wait_percentile(histogram, 95)
    return ArmScores(
        replica_seconds=sum(replicas),
        p50_wait=wait_percentile(histogram, 50),
        p95_wait=p95,
        p99_wait=wait_percentile(histogram, 99),
        max_wait=max_wait(histogram),
        slo_met=p95 <= slo_seconds,
        scale_changes=len(changes),
        reversals=count_reversals(changes),
        pod_starts=count_pod_starts(changes),
        still_queued=book.still_queued(),
    )


def changes_of(replicas: Sequence[int], initial: int = 1) -> list[ScaleChange]:
    """The seconds at which the sampled `spec.replicas` differs from the second before."""
    changes, before = [], initial
    for second, after in enumerate(replicas):
        if after != before:
            changes.append(ScaleChange(second, before, after))
        before = after
    return changes


class ReplicaSampler(threading.Thread):
    """Read a Deployment's `spec.replicas` in the middle of every second of the run."""

    def __init__(
        self, apps: client.AppsV1Api, namespace: str, name: str, clock: Clock, seconds: int
    ) -> None:
        super().__init__(name=f"race-sampler-{name}", daemon=True)
        self._apps, self._namespace, self._name = apps, namespace, name
        self._clock, self._seconds = clock, seconds
        self.replicas: list[int] = []

    def run(self) -> None:
        last = 1
        for second in range(self._seconds):
            self._clock.sleep_until(second + 0.5)
            # An API hiccup bills the last known count for this second.
            with contextlib.suppress(Exception):
                scale = self._apps.read_namespaced_deployment_scale(
                    self._name, self._namespace, _request_timeout=5
                )
                last = int(scale.spec.replicas or 0)
            self.replicas.append(last)
