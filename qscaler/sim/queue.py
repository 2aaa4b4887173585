"""The simulated queue: a FIFO fluid that remembers when each message arrived.

The benchmark scores waits (docs/benchmark-model.md), so the queue cannot be just a
number: it keeps one cohort per arrival second, consumes cohorts oldest first,
and files every processed amount under its wait. The histogram of waits has one
bucket per whole second, so every percentile is exact and the whole run stays
O(len(trace)): each cohort is appended once and removed once, and a second
touches at most one partly consumed cohort besides the ones it empties.

Messages that arrived before `scored_from` are history (docs/benchmark-model.md,
`score_from`): they are queued and processed like any other, but their waits
are not filed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

#: A cohort smaller than this is float noise left by subtraction, not messages.
#: With whole-number rates and service rate (§5.13) it never applies.
NOISE = 1e-9


@dataclass(slots=True)
class _Cohort:
    arrived: int
    amount: float


class FluidQueue:
    """A FIFO queue of fluid messages, advanced one second at a time."""

    __slots__ = ("_backlog", "_cohorts", "_scored_from", "_waits")

    def __init__(self, seconds: int, scored_from: int = 0) -> None:
        self._backlog = 0.0
        self._scored_from = scored_from
        self._cohorts: deque[_Cohort] = deque()
        # Waits range from 0 to `seconds` (a message left queued at the end).
        self._waits = [0.0] * (seconds + 1)

    @property
    def backlog(self) -> float:
        """Messages waiting, at the start of the current second."""
        return self._backlog

    def step(self, second: int, arrivals: float, capacity: float) -> float:
        """Run one second: add `arrivals`, process up to `capacity`; return what was processed.

        Messages that arrive in `second` can be processed in that same second.
        """
        if arrivals > 0:
            self._cohorts.append(_Cohort(second, arrivals))
        processed = min(self._backlog + arrivals, capacity)
        self._backlog = self._backlog + arrivals - processed
        self._consume(second, processed)
        return processed

    def wait_histogram(self, end: int) -> tuple[float, ...]:
        """Messages by wait in seconds, counting those still queued at `end` as waiting until it."""
        waits = list(self._waits)
        for cohort in self._cohorts:
            if cohort.arrived >= self._scored_from:
                waits[end - cohort.arrived] += cohort.amount
        return tuple(waits)

    def _consume(self, second: int, amount: float) -> None:
        cohorts = self._cohorts
        while amount > NOISE and cohorts:
            oldest = cohorts[0]
            taken = min(oldest.amount, amount)
            if oldest.arrived >= self._scored_from:
                self._waits[second - oldest.arrived] += taken
            oldest.amount -= taken
            amount -= taken
            if oldest.amount <= NOISE:
                cohorts.popleft()
