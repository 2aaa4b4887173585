"""Why a decision came out the way it did.

One value per outcome, used unchanged as the Prometheus label, the Kubernetes
Event reason and the log field, so an operator can move from a graph to an Event
to a log line by searching for the same word. The CamelCase spelling follows the
Event reasons Kubernetes itself uses (`SuccessfulRescale`, `ScaleUpLimit`).
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """The reason a `Decision` carries."""

    # The replica count moves towards the recommendation.
    SCALE_UP = "ScaleUp"
    SCALE_DOWN = "ScaleDown"
    SCALE_FROM_ZERO = "ScaleFromZero"
    SCALE_TO_ZERO = "ScaleToZero"
    # The recommendation equals what is there.
    STEADY = "Steady"
    # Something holds the count back from the recommendation.
    WITHIN_TOLERANCE = "WithinTolerance"
    STABILIZING = "Stabilizing"
    DRAINING = "Draining"  # rate-aware: busy replicas stay while the queue drains
    FORECAST = "Forecast"  # raised ahead of a recurring burst (qscaler.core.forecast)
    SCALE_UP_LIMITED = "ScaleUpLimited"
    SCALE_DOWN_LIMITED = "ScaleDownLimited"
    AT_MAX = "AtMax"
    AT_MIN = "AtMin"
    BELOW_ACTIVATION = "BelowActivation"
    IN_FLIGHT = "MessagesInFlight"
    # The data cannot be trusted: hold, never scale down.
    SOURCE_ERROR = "SourceError"
    SOURCE_STALE = "SourceStale"
    QUEUE_MISSING = "QueueMissing"
    BACKLOG_UNKNOWN = "BacklogUnknown"  # a bound queue exists, its backlog cannot be read
    FALLBACK = "FallbackReplicas"
    # The user said so.
    PAUSED = "Paused"
    # Reported outside decide(), listed here so every outcome has one vocabulary.
    INVALID_BINDING = "InvalidBinding"
    WRITE_FAILED = "WriteFailed"
    INTERNAL_ERROR = "InternalError"  # a bug: logged with its traceback


class Hold(StrEnum):
    """Why a planned write was not made, or not in full.

    The same word is the `qscaler_held_back` reason, the log's and /status's
    `held`. The first three are an `Outcome`'s `held`; the last is read from
    the plan (an HPA's maxReplicas below the floor qscaler asked for).
    """

    DRY_RUN = "DryRun"
    PAUSED = "Paused"
    NOT_LEADER = "NotLeader"
    CAPPED_BY_HPA = "CappedByHpaMax"


#: Reasons under which the count may not move towards the recommendation;
#: exported as the "held back" gauge.
HELD_BACK = frozenset(
    {
        Reason.WITHIN_TOLERANCE,
        Reason.STABILIZING,
        Reason.DRAINING,
        Reason.SCALE_UP_LIMITED,
        Reason.SCALE_DOWN_LIMITED,
        Reason.AT_MAX,
        Reason.AT_MIN,
        Reason.BELOW_ACTIVATION,
        Reason.IN_FLIGHT,
        Reason.SOURCE_ERROR,
        Reason.SOURCE_STALE,
        Reason.QUEUE_MISSING,
        Reason.BACKLOG_UNKNOWN,
        Reason.FALLBACK,
        Reason.PAUSED,
    }
)

#: Reasons that mean "the data was not trustworthy"; decide() never lowers
#: the count under one of these.
UNTRUSTED_DATA = frozenset(
    {
        Reason.SOURCE_ERROR,
        Reason.SOURCE_STALE,
        Reason.QUEUE_MISSING,
        Reason.BACKLOG_UNKNOWN,
        Reason.FALLBACK,
    }
)
