"""Pick a workload's queues out of a vhost snapshot.

Exact names are dictionary lookups. `re:` patterns are matched against every
queue name of the vhost, which at 5,000 queues per vhost and hundreds of
pattern bindings would dominate a cycle, so matches are cached per pattern,
and when the vhost's set of queue names changes only the names that appeared
are matched (their counts change every poll; the names less often, but a
vhost with RPC reply queues changes its names every poll). Patterns come from
users, so matching runs under a time budget: a catastrophic pattern becomes an
error for its own workload instead of a stalled controller. The budget covers
all the names matched at once (each search gets what is left of it), which
takes a clock; this module may not read one, so the loop injects it. Without a
clock each name gets the whole budget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import regex

from qscaler.core.model import Observation, QueueSample, VhostSnapshot
from qscaler.core.policy import QueueSelector

#: Seconds one pattern may spend matching one vhost's names in one cycle.
PATTERN_BUDGET_SECONDS = 0.25


class PatternTooSlow(Exception):
    """A `re:` pattern exceeded its time budget."""


@dataclass(frozen=True, slots=True)
class VhostNames:
    """A vhost's queue names as matching needs them, computed once per read."""

    sorted: tuple[str, ...]
    set: frozenset[str]
    #: Changes when the set of names changes (a hash: equal sets, equal keys).
    key: int

    @classmethod
    def of(cls, names: Iterable[str]) -> VhostNames:
        ordered = tuple(sorted(names))
        return cls(ordered, frozenset(ordered), hash(ordered))


@dataclass(frozen=True, slots=True)
class _Cached:
    names_key: int
    names: frozenset[str]  # the set `matched` was computed over
    matched: tuple[str, ...]  # sorted


class QueueMatcher:
    """Caches which names each (vhost, pattern) matches."""

    def __init__(
        self,
        budget_seconds: float = PATTERN_BUDGET_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`clock` (seconds, real time) makes the budget cover all names of a vhost."""
        self.budget = budget_seconds
        self.clock = clock
        self._cache: dict[tuple[str, str], _Cached] = {}

    def matching(
        self, vhost: str, pattern: regex.Pattern[str], names: VhostNames
    ) -> tuple[str, ...]:
        """The names of `names` that `pattern` matches, sorted.

        Only names the cache has not judged are searched: all of them the first
        time, then those that appeared since; names that left are dropped."""
        key = (vhost, pattern.pattern)
        cached = self._cache.get(key)
        if cached is not None and cached.names_key == names.key:
            return cached.matched
        if cached is None:
            kept: list[str] = []
            new: Iterable[str] = names.sorted
        else:
            kept = [n for n in cached.matched if n in names.set]
            new = sorted(names.set - cached.names)
        deadline = None if self.clock is None else self.clock() + self.budget
        try:
            found = [n for n in new if pattern.search(n, timeout=self._left(deadline))]
        except TimeoutError as exc:
            raise PatternTooSlow(pattern.pattern) from exc
        matched = tuple(sorted(kept + found))
        self._cache[key] = _Cached(names.key, names.set, matched)
        return matched

    def keep_only(self, in_use: set[tuple[str, str]]) -> None:
        """Forget the matches of (vhost, pattern source) pairs no binding uses any
        more: each holds a vhost's whole set of names."""
        for key in [k for k in self._cache if k not in in_use]:
            del self._cache[key]

    def __len__(self) -> int:
        """How many (vhost, pattern) matches are cached."""
        return len(self._cache)

    def _left(self, deadline: float | None) -> float:
        if deadline is None or self.clock is None:
            return self.budget
        left = deadline - self.clock()
        if left <= 0:
            raise TimeoutError
        return left


@dataclass(frozen=True, slots=True)
class VhostView:
    """One vhost's smoothed samples, with what matching needs computed once."""

    snapshot: VhostSnapshot
    samples: Mapping[str, QueueSample]
    names: VhostNames
    #: Queues whose ready count an activation probe raised (`raise_ready`).
    probed: frozenset[str] = frozenset()

    @classmethod
    def of(cls, snapshot: VhostSnapshot, samples: Mapping[str, QueueSample]) -> VhostView:
        """Build the view, with the names matching works on: every queue read,
        those of unknown backlog too (a pattern that matches one must hold, not
        sum the others as if it were empty)."""
        return cls(snapshot, samples, VhostNames.of([*samples, *snapshot.backlog_unknown]))


def raise_ready(view: VhostView, ready: Mapping[str, int]) -> VhostView:
    """The view with the probed ready counts raised in, never lowered.

    A passive declare counts a queue's ready messages in real time; the
    management API's count can be a statistics interval old. The larger of the
    two is the better estimate of what is waiting now (a stale count is only
    ever too low for a queue that nobody consumes). Queues the view does not
    hold are left out: whether they exist is the source's call.
    """
    raised = {
        name: replace(sample, messages_ready=ready[name])
        for name, sample in view.samples.items()
        if ready.get(name, -1) > sample.messages_ready
    }
    if not raised:
        return view
    return replace(view, samples={**view.samples, **raised}, probed=view.probed | frozenset(raised))


def observe(selector: QueueSelector, view: VhostView | None, matcher: QueueMatcher) -> Observation:
    """The observation one workload gets from its vhost's view (None: never read)."""
    if view is None:
        return Observation(queues=(), observed_at=None)
    samples, read_at = view.samples, view.snapshot.read_at
    unreadable = _unreadable(selector, view.snapshot)
    if unreadable is not None:
        return Observation(queues=(), observed_at=read_at, error=unreadable)
    unknown = view.snapshot.backlog_unknown
    missing = tuple(n for n in selector.names if n not in samples and n not in unknown)
    chosen = [n for n in selector.names if n in samples or n in unknown]
    seen = set(chosen)
    for pattern in selector.patterns:
        try:
            matched = matcher.matching(selector.vhost, pattern, view.names)
        except PatternTooSlow:
            return Observation(
                queues=(),
                observed_at=read_at,
                error=f"pattern re:{pattern.pattern} took over {matcher.budget:g}s to "
                "match the vhost's queue names; simplify it",
            )
        fresh = [n for n in matched if n not in seen]
        chosen.extend(fresh)
        seen.update(fresh)
    return Observation(
        queues=tuple(samples[n] for n in chosen if n in samples),
        observed_at=read_at,
        missing=missing,
        probed=tuple(n for n in chosen if n in view.probed),
        backlog_unknown=tuple((n, unknown[n]) for n in chosen if n in unknown),
    )


def _unreadable(selector: QueueSelector, snapshot: VhostSnapshot) -> str | None:
    """Why some of the selector's queues could not be read, or None."""
    if selector.patterns and snapshot.incomplete is not None:
        return f"the queue list of vhost {selector.vhost!r} is incomplete: {snapshot.incomplete}"
    for name in selector.names:
        why = snapshot.unreadable.get(name)
        if why is not None:
            return f"queue {name!r} could not be read: {why}"
    return None
