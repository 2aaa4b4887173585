"""A workload's scaling policy, as the decision engine sees it.

The policy is what the annotations on a Deployment say, after parsing
(`qscaler.core.binding`), plus the process-wide defaults that users rarely
change. Its defaults are those of `qscaler.core.defaults`, as the parser's
are. It is frozen: a cycle never edits a policy, it parses a new one when the
annotations change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import regex

from qscaler.core import defaults as d


class CountMode(StrEnum):
    """Which messages count as backlog."""

    READY = "ready"
    ALL = "all"  # ready + unacknowledged (in flight at a consumer)


class Aggregate(StrEnum):
    """How the backlogs of several matched queues combine."""

    SUM = "sum"
    MAX = "max"


class ForecastMode(StrEnum):
    """Whether rate-aware mode anticipates recurring bursts (qscaler.core.forecast)."""

    ON = "on"
    SHADOW = "shadow"  # compute and report the forecast, never act on it
    OFF = "off"


class Mode(StrEnum):
    """Whether qscaler may write."""

    ACTIVE = "active"
    DRY_RUN = "dry-run"  # decide and report what would be done, never write
    PAUSED = "paused"  # hold whatever count the workload has


@dataclass(frozen=True, slots=True)
class StepLimit:
    """At most this many replicas added (or removed) per minute.

    Exactly one of `replicas` and `percent` is set; `percent` is relative to
    the count at the start of the minute, like the HPA's Percent policy.
    """

    replicas: int | None = None
    percent: float | None = None

    def largest_up(self, base: int) -> int:
        """The highest count allowed when the minute started at `base`."""
        if self.replicas is not None:
            return base + self.replicas
        assert self.percent is not None
        return max(base + 1, math.ceil(base * (1 + self.percent / 100)))

    def smallest_down(self, base: int) -> int:
        """The lowest count allowed when the minute started at `base`."""
        if self.replicas is not None:
            return max(0, base - self.replicas)
        assert self.percent is not None
        return max(0, min(base - 1, math.floor(base * (1 - self.percent / 100))))

    def __str__(self) -> str:
        if self.replicas is not None:
            return f"{self.replicas}"
        return f"{self.percent:g}%"


@dataclass(frozen=True, slots=True)
class QueueSelector:
    """The queues of one vhost on one broker that a workload consumes.

    `names` are exact queue names; `patterns` are regular expressions matched
    with search semantics against every queue name of the vhost (anchor them
    with `^…$` to match whole names). Matching lives in `qscaler.core.select`,
    which bounds the time a pathological pattern may take.
    """

    vhost: str
    names: tuple[str, ...] = ()
    patterns: tuple[regex.Pattern[str], ...] = ()
    broker: str = d.DEFAULT_BROKER  # a name from the brokers file (qscaler.brokers)

    def describe(self) -> str:
        """The selector as the user wrote it, for tables and Events."""
        parts = [*self.names, *(f"re:{p.pattern}" for p in self.patterns)]
        return ",".join(parts)


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything decide() needs to know about one workload's wishes."""

    queues: QueueSelector
    messages_per_replica: float | None = None
    target_drain_seconds: float | None = None
    min_replicas: int = d.MIN_REPLICAS
    max_replicas: int = d.MAX_REPLICAS
    cooldown_seconds: float = d.COOLDOWN_SECONDS
    count: CountMode = CountMode(d.COUNT)  # noqa: RUF009 - an enum member is immutable
    aggregate: Aggregate = Aggregate(d.AGGREGATE)  # noqa: RUF009 - an enum member is immutable
    activation_messages: float = d.ACTIVATION_MESSAGES
    scale_up_limit: StepLimit | None = None
    scale_down_limit: StepLimit | None = None  # the cooldown window is the brake, as in the HPA
    fallback_replicas: int | None = None
    mode: Mode = Mode(d.MODE)  # noqa: RUF009 - an enum member is immutable
    tolerance: float = d.TOLERANCE
    # Rate-aware mode only (see qscaler.core.sizing).
    #: The publish rate replicas are sized for is averaged over this window.
    rate_window_seconds: float = d.RATE_WINDOW_SECONDS
    #: A queue this many seconds deep keeps replicas busy.
    standing_wait_seconds: float = d.STANDING_WAIT_SECONDS
    #: Need ≥ this × current (and the queue agrees): size at once.
    surge_threshold: float = d.SURGE_THRESHOLD
    #: Raise the floor ahead of recurring bursts.
    forecast: ForecastMode = ForecastMode(d.FORECAST)  # noqa: RUF009 - an enum member is immutable
    # Process-wide knobs (settings, not annotations).
    stale_after_seconds: float = d.STALE_AFTER_SECONDS
    fallback_after_failures: int = d.FALLBACK_AFTER_FAILURES
    limit_window_seconds: float = d.LIMIT_WINDOW_SECONDS

    @property
    def rate_aware(self) -> bool:
        """True when the policy sizes by throughput, not only by backlog."""
        return self.target_drain_seconds is not None
