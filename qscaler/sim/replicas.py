"""The simulated workload's replicas: requested now, consuming after start-up.

docs/benchmark-model.md bills every requested replica but lets one consume only
`startup_seconds` after it was requested, and removes the newest first (so a
replica that is still starting goes before one that is working). Replicas are
kept as a stack of groups, oldest at the bottom; since every group becomes
ready `startup_seconds` after it was pushed, the stack is also ordered by
readiness, and the ready count is a pointer that only moves up with time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Group:
    ready_at: int
    count: int


class ReplicaSet:
    """Every replica requested and still existing, and when each starts consuming."""

    __slots__ = ("_groups", "_ready", "_ready_groups", "_total")

    def __init__(self, initial: int) -> None:
        """Start with `initial` replicas, all ready at t = 0."""
        self._groups = [_Group(ready_at=0, count=initial)] if initial > 0 else []
        self._total = initial
        self._ready = 0  # replicas in self._groups[:self._ready_groups]
        self._ready_groups = 0

    @property
    def requested(self) -> int:
        """Replicas that exist, ready or not: what is billed."""
        return self._total

    def ready(self, now: int) -> int:
        """Replicas consuming at second `now`; `now` never decreases between calls."""
        groups = self._groups
        while self._ready_groups < len(groups) and groups[self._ready_groups].ready_at <= now:
            self._ready += groups[self._ready_groups].count
            self._ready_groups += 1
        return self._ready

    def resize(self, target: int, ready_at: int) -> None:
        """Add replicas that start consuming at `ready_at`, or remove the newest."""
        if target > self._total:
            self._groups.append(_Group(ready_at=ready_at, count=target - self._total))
        else:
            self._remove_newest(self._total - target)
        self._total = target

    def _remove_newest(self, excess: int) -> None:
        groups = self._groups
        while excess > 0:
            newest = groups[-1]
            removed = min(newest.count, excess)
            newest.count -= removed
            excess -= removed
            if len(groups) <= self._ready_groups:
                self._ready -= removed
            if newest.count == 0:
                groups.pop()
                self._ready_groups = min(self._ready_groups, len(groups))
