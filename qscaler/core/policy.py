"""A workload's scaling policy, as the decision engine sees it.

The policy is what the annotations on a Deployment say, after parsing
(`qscaler.core.binding`), plus the process-wide defaults that users rarely
change. It is frozen: a cycle never edits a policy, it parses a new one when
the annotations change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import regex


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
    broker: str = "default"  # a name from the brokers file (qscaler.brokers)

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
    min_replicas: int = 1
    max_replicas: int = 10
    cooldown_seconds: float = 300.0
    count: CountMode = CountMode.ALL
    aggregate: Aggregate = Aggregate.SUM
    activation_messages: float = 0.0
    scale_up_limit: StepLimit | None = None
    scale_down_limit: StepLimit | None = None  # the cooldown window is the brake, as in the HPA
    fallback_replicas: int | None = None
    mode: Mode = Mode.ACTIVE
    tolerance: float = 0.1
    # Rate-aware mode only (see qscaler.core.sizing).
    rate_window_seconds: float = 30.0  # the publish rate replicas are sized for is averaged over it
    standing_wait_seconds: float = 10.0  # a queue this many seconds deep keeps replicas busy
    surge_threshold: float = 2.0  # need ≥ this × current (and the queue agrees): size at once
    forecast: ForecastMode = ForecastMode.ON  # raise the floor ahead of recurring bursts
    # Process-wide knobs (settings, not annotations).
    stale_after_seconds: float = 60.0
    fallback_after_failures: int = 3
    limit_window_seconds: float = 60.0

    @property
    def rate_aware(self) -> bool:
        """True when the policy sizes by throughput, not only by backlog."""
        return self.target_drain_seconds is not None
