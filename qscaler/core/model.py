"""The values that flow through observe → decide → act.

All frozen: a cycle builds new values instead of editing old ones, which is
what lets `decide` be a pure function and the simulator replay it exactly.
Times are seconds on a monotonic clock (the live loop) or simulated seconds
(the simulator); nothing here knows which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from qscaler.core.forecast import ForecastState
from qscaler.core.rate_aware_state import RateAwareState
from qscaler.core.reasons import Reason


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One queue as a source read it, before any smoothing.

    `messages_unacknowledged` is None when the source cannot see it (a passive
    declare over AMQP reports ready messages only); rates are None when the
    broker has not reported them (no traffic yet, or stats disabled).
    """

    name: str
    messages_ready: int
    messages_unacknowledged: int | None
    consumers: int
    publish_rate: float | None = None
    ack_rate: float | None = None


@dataclass(frozen=True, slots=True)
class VhostSnapshot:
    """Every queue a source read from one vhost in one poll."""

    vhost: str
    queues: Mapping[str, QueueStats]
    read_at: float
    #: Names that were asked for and do not exist.
    missing: frozenset[str] = frozenset()
    #: Queues that exist and were read, but whose backlog the answer does not
    #: give, each with why (a stream without a readable consumer lag, a queue
    #: type qscaler does not know, no counts): never read as empty.
    backlog_unknown: Mapping[str, str] = field(default_factory=dict)
    #: Names asked for that could not be read this time (a node down), and why:
    #: unlike `missing`, they may well exist.
    unreadable: Mapping[str, str] = field(default_factory=dict)
    #: Why the snapshot may lack some of the vhost's queues (None: it is whole);
    #: a `re:` binding cannot be trusted on it.
    incomplete: str | None = None


@dataclass(frozen=True, slots=True)
class QueueSample:
    """One queue after smoothing: what decide() reasons about."""

    name: str
    messages_ready: int
    messages_unacknowledged: int
    consumers: int
    publish_rate: float | None
    ack_rate: float | None
    #: The latest broker sample's rates, before smoothing (None: not reported).
    publish_rate_sample: float | None = None
    ack_rate_sample: float | None = None

    @property
    def messages(self) -> int:
        """Ready plus unacknowledged: the queue's depth."""
        return self.messages_ready + self.messages_unacknowledged


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything known about one workload's queues at one moment.

    `observed_at` is when the data was read (None: never read). `error` is set
    when the read failed, `missing` names bound queues that do not exist,
    `backlog_unknown` bound queues whose backlog cannot be read (name, why); each
    makes decide() hold. `probed` names the queues whose ready count
    came from an activation probe, fresher than the source's.
    """

    queues: tuple[QueueSample, ...]
    observed_at: float | None
    missing: tuple[str, ...] = ()
    error: str | None = None
    probed: tuple[str, ...] = ()
    backlog_unknown: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Change:
    """A change of the desired count that decide() made at `at`."""

    at: float
    before: int
    after: int


@dataclass(frozen=True, slots=True)
class History:
    """What decide() remembers between calls for one workload.

    `recommendations` covers the stabilization window, `changes` the rate-limit
    window; both are pruned on every call, so the history stays small.

    Each sizing strategy (qscaler.core.strategy) keeps its own frozen state
    here, which only it reads and writes: `rate_aware` what rate-aware mode
    has learned (qscaler.core.rate_aware_state), `forecast` the publish-rate
    history and trust of the forecast (qscaler.core.forecast; None until it
    first observed). Backlog mode keeps none.
    """

    started_at: float | None = None
    recommendations: tuple[tuple[float, int], ...] = ()
    changes: tuple[Change, ...] = ()
    failures: int = 0
    rate_aware: RateAwareState = field(default_factory=RateAwareState)
    forecast: ForecastState | None = None


@dataclass(frozen=True, slots=True)
class ForecastFigures:
    """The forecast's floor as reporters show it: replicas, learned period, trust."""

    replicas: int
    trust: float
    period_seconds: float | None


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """The aggregated queue figures a decision was computed from.

    Typed, so that a reporter that misspells one is a mypy error; rates are
    None when the broker reported none, `forecast` None without a forecast.
    """

    messages_ready: int = 0
    messages_unacknowledged: int = 0
    consumers: int = 0
    publish_rate: float | None = None
    ack_rate: float | None = None
    forecast: ForecastFigures | None = None


class Direction(StrEnum):
    """Which way a decision moves the count; a metric label."""

    UP = "up"
    DOWN = "down"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Decision:
    """What decide() concluded, and why, in a form every reporter can use.

    `recommended` is the count the queue data asks for before tolerance,
    stabilization, limits and bounds (None when the data was not trusted);
    `backlog` is the aggregated message count it was computed from.
    """

    current: int
    desired: int
    reason: Reason
    message: str
    recommended: int | None = None
    backlog: float | None = None
    throughput: float | None = None
    figures: QueueFigures | None = None

    @property
    def direction(self) -> Direction:
        """Up, down or none."""
        if self.desired > self.current:
            return Direction.UP
        if self.desired < self.current:
            return Direction.DOWN
        return Direction.NONE
