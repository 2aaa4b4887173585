"""The `qscaler.io/` annotations, one row each: the single place they are described.

A row says what an annotation is called, what a valid value looks like (the
same words its error uses: `… "x" is not <value>`), what it is when absent,
what it means, and which converter reads it. Everything that lists the
annotations reads this table: the parser (`qscaler.core.binding` loops over
it), the known keys and the "did you mean" suggestions, the KEDA importer's
keys, and the README's annotation tables (`readme_table`;
tests/cli/test_annotation_table.py checks the README against it, and
`python -m tests.cli.test_annotation_table` rewrites the README's copy).

The rows are in the order the "known:" list of an error shows them. Where a
check compares two annotations, `after` makes the parser read one right after
the other, so each problem is reported beside the annotations it concerns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from qscaler.core import defaults as d
from qscaler.core import values as v
from qscaler.core.policy import Aggregate, CountMode, ForecastMode, Mode

PREFIX = "qscaler.io/"
#: The label a workload carries to opt in (filtered server-side by the watch).
ENABLED_LABEL = PREFIX + "enabled"
#: Annotation qscaler writes on an HPA whose floor it raised: the floor to
#: restore when the queue demand falls back or the workload opts out.
ORIGINAL_MIN_REPLICAS = PREFIX + "original-min-replicas"
#: Annotation qscaler writes next to it: the floor it set. A minReplicas that
#: differs from it was edited by someone else, and becomes the new original.
RAISED_MIN_REPLICAS = PREFIX + "raised-min-replicas"

QUEUES = PREFIX + "queues"
VHOST = PREFIX + "vhost"
MESSAGES_PER_REPLICA = PREFIX + "messages-per-replica"
MIN_REPLICAS = PREFIX + "min-replicas"
MAX_REPLICAS = PREFIX + "max-replicas"
COOLDOWN = PREFIX + "cooldown"
COUNT = PREFIX + "count"
AGGREGATE = PREFIX + "aggregate"
ACTIVATION_MESSAGES = PREFIX + "activation-messages"
TARGET_DRAIN_SECONDS = PREFIX + "target-drain-seconds"
SCALE_UP_LIMIT = PREFIX + "scale-up-limit"
SCALE_DOWN_LIMIT = PREFIX + "scale-down-limit"
FALLBACK_REPLICAS = PREFIX + "fallback-replicas"
MODE = PREFIX + "mode"
TOLERANCE = PREFIX + "tolerance"
RATE_WINDOW = PREFIX + "rate-window"
STANDING_WAIT = PREFIX + "standing-wait"
SURGE_THRESHOLD = PREFIX + "surge-threshold"
FORECAST = PREFIX + "forecast"
BROKER = PREFIX + "broker"

#: RabbitMQ refuses queue names longer than 255 bytes.
MAX_QUEUE_NAME_BYTES = 255
MAX_PATTERN_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class Annotation:
    """One annotation: its key, valid values, default, meaning and converter."""

    key: str
    #: The `Policy` field it sets; None for the vhost and broker, which the
    #: parser puts in the queue selector with the queues.
    field: str | None
    #: What a valid value is; its error says `is not <value>`.
    value: str
    #: The value when the annotation is absent (or invalid, for later checks).
    default: object
    #: The default, as the README says it.
    default_doc: str
    doc: str
    #: Stripped text → value, or None when invalid. None here: a rule of the
    #: parser reads it, because its validity depends on more than its text.
    convert: Callable[[str], object] | None = None
    #: Read right after this annotation (a check compares the two).
    after: str | None = None

    @property
    def invalid(self) -> str:
        """The end of the sentence that says a value is not valid."""
        return f"is not {self.value}"


def _whole(least: int) -> str:
    return f"a whole number between {least} and {v.MAX_REPLICAS_BOUND}"


def _one_of(kind: type[StrEnum]) -> str:
    return "one of " + ", ".join(m.value for m in kind)


def _limit(max_percent: float) -> str:
    return (
        f"a replica count (a whole number ≥ 1) or a percentage "
        f"(above 0% and at most {max_percent:g}%)"
    )


def _shown(value: object) -> str:
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


ANNOTATIONS: tuple[Annotation, ...] = (
    Annotation(
        QUEUES, "queues", "a comma-separated list of queue names", None, "required",
        "the queues the workload consumes; an entry `re:<regex>` matches every queue of the "
        "vhost whose name matches (search semantics; anchor with `^…$`)",
        after=BROKER,
    ),
    Annotation(
        VHOST, None, "a vhost name: it must not be empty", d.VHOST, _shown(d.VHOST),
        "the RabbitMQ vhost of the queues", v.non_empty,
    ),
    Annotation(
        MESSAGES_PER_REPLICA, "messages_per_replica", "a number above 0", None,
        "required unless `target-drain-seconds`",
        "backlog one replica should carry: `ceil(messages / this)` replicas", v.positive_number,
    ),
    Annotation(
        MIN_REPLICAS, "min_replicas", _whole(0), d.MIN_REPLICAS, _shown(d.MIN_REPLICAS),
        "the fewest replicas; 0 allows scale to zero", v.replicas,
    ),
    Annotation(
        MAX_REPLICAS, "max_replicas", _whole(1), d.MAX_REPLICAS, _shown(d.MAX_REPLICAS),
        "the most replicas; at least `min-replicas`", v.replicas,
    ),
    Annotation(
        COOLDOWN, "cooldown_seconds",
        "a duration (for example 300, 300s, 5m, 1h30m; at most 7 days)", d.COOLDOWN_SECONDS,
        f"`{d.COOLDOWN_SECONDS:g}s`; `{d.RATE_AWARE_COOLDOWN_SECONDS:g}s` in rate-aware mode",
        "scale-down stabilization: scale down only to the highest recommendation of this window",
        v.duration,
    ),
    Annotation(
        COUNT, "count", _one_of(CountMode), CountMode(d.COUNT), _shown(d.COUNT),
        "what counts as backlog: `ready` messages, or `all` (ready + unacknowledged)",
        v.member_of(CountMode),
    ),
    Annotation(
        AGGREGATE, "aggregate", _one_of(Aggregate), Aggregate(d.AGGREGATE), _shown(d.AGGREGATE),
        "`sum` or `max` of the matched queues' backlogs", v.member_of(Aggregate),
    ),
    Annotation(
        ACTIVATION_MESSAGES, "activation_messages", "a number of messages (≥ 0)",
        d.ACTIVATION_MESSAGES, _shown(d.ACTIVATION_MESSAGES),
        "a workload at 0 stays at 0 until its backlog exceeds this", v.non_negative_number,
    ),
    Annotation(
        TARGET_DRAIN_SECONDS, "target_drain_seconds",
        "a duration above 0 (for example 60, 60s or 2m)", None, "unset",
        "rate-aware mode: enough replicas to absorb the publish rate and drain the backlog "
        "beyond the standing queue within this time, using per-replica throughput learned from "
        "the ack rate and consumer count; with `messages-per-replica` as a floor when both are set",
        v.positive_duration, after=MESSAGES_PER_REPLICA,
    ),
    Annotation(
        SCALE_UP_LIMIT, "scale_up_limit", _limit(1000), None, "unlimited",
        "most replicas added per minute: `4` or `50%`", v.step_limit(1000),
    ),
    Annotation(
        SCALE_DOWN_LIMIT, "scale_down_limit", _limit(100), None,
        "unlimited: the cooldown is the brake, as in the HPA's default",
        "most replicas removed per minute: `4` or `50%`", v.step_limit(100),
    ),
    Annotation(
        FALLBACK_REPLICAS, "fallback_replicas", _whole(0), None, "unset: hold",
        "after `QSCALER_FALLBACK_AFTER_FAILURES` failed polls in a row, hold at least this many "
        "(it only ever raises); between `min-replicas` and `max-replicas`",
        v.replicas, after=MAX_REPLICAS,
    ),
    Annotation(
        MODE, "mode", _one_of(Mode), Mode(d.MODE), _shown(d.MODE),
        "`active`, `dry-run` (decide and report, never write), `paused` (hold)",
        v.member_of(Mode),
    ),
    Annotation(
        TOLERANCE, "tolerance", "a fraction between 0 and 0.9 (or 0% to 90%)", d.TOLERANCE,
        _shown(d.TOLERANCE),
        "no change while the need is within this fraction of the count, `0.1` or `10%` "
        "(rate-aware: holds only upward)",
        v.fraction,
    ),
    Annotation(
        RATE_WINDOW, "rate_window_seconds", "a duration (for example 0, 30s, 2m)",
        d.RATE_WINDOW_SECONDS, f"`{d.RATE_WINDOW_SECONDS:g}s`",
        "rate-aware: size for the publish rate averaged over this window; `0` = each sample as is",
        v.duration,
    ),
    Annotation(
        STANDING_WAIT, "standing_wait_seconds", "a duration (for example 0, 10s)",
        d.STANDING_WAIT_SECONDS, f"`{d.STANDING_WAIT_SECONDS:g}s`",
        "rate-aware: a queue this many seconds of arrivals deep is kept so ready replicas never "
        "idle; only what exceeds it is drained",
        v.duration,
    ),
    Annotation(
        SURGE_THRESHOLD, "surge_threshold", "a percentage above 100% (for example 200%)",
        d.SURGE_THRESHOLD, f"`{d.SURGE_THRESHOLD * 100:g}%`",
        "rate-aware: when the newest sample asks for at least this share of the current count "
        "and the queue confirms it, size for it at once",
        v.surge_percent,
    ),
    Annotation(
        FORECAST, "forecast", _one_of(ForecastMode), ForecastMode(d.FORECAST),
        _shown(d.FORECAST),
        "rate-aware: learn recurring bursts from the publish rate and raise the floor one "
        "start-up time ahead of the next (only ever raises; `Forecast` reason); `shadow` reports "
        "the forecast without acting; `off`",
        v.member_of(ForecastMode),
    ),
    Annotation(
        BROKER, None, "a broker of the brokers file", d.DEFAULT_BROKER,
        f"`{d.DEFAULT_BROKER}`: the one the `QSCALER_*` settings describe",
        "which broker: a name from the brokers file (`QSCALER_BROKERS_FILE`); an unknown name "
        "is an `InvalidBinding` with a \"did you mean\"",
        after=VHOST,
    ),
)  # fmt: skip

#: Every annotation a workload may carry, in the table's order.
KNOWN = tuple(a.key for a in ANNOTATIONS)
#: Keys qscaler sets or reads besides the policy: `(key, where, meaning)`.
OTHER_KEYS = (
    (ENABLED_LABEL, "label on the workload",
     "`\"true\"` opts the workload in (`QSCALER_LABEL_SELECTOR`); as an annotation it is "
     "ignored, not an unknown key"),
    (ORIGINAL_MIN_REPLICAS, "annotation qscaler writes on an HPA",
     "the HPA's own `minReplicas`, restored when the queue demand falls back"),
    (RAISED_MIN_REPLICAS, "annotation qscaler writes on an HPA",
     "the floor qscaler set; another value in `minReplicas` is the owner's new choice"),
)  # fmt: skip


def read_order() -> tuple[Annotation, ...]:
    """The rows in the order the parser reads them: the table's order, with
    each row that names another in `after` moved right behind that one."""
    followers: dict[str, list[Annotation]] = {}
    for row in ANNOTATIONS:
        if row.after is not None:
            followers.setdefault(row.after, []).append(row)
    return tuple(_with_followers([r for r in ANNOTATIONS if r.after is None], followers))


def _with_followers(
    rows: list[Annotation], followers: dict[str, list[Annotation]]
) -> Iterator[Annotation]:
    for row in rows:
        yield row
        yield from _with_followers(followers.get(row.key, []), followers)


def readme_table() -> str:
    """The README's annotation tables, as Markdown: the policy's annotations,
    then the keys qscaler sets itself."""
    rows = [f"| `{a.key}` | {a.value} | {a.default_doc} | {a.doc} |" for a in ANNOTATIONS]
    others = [f"| `{key}` | {where} | {meaning} |" for key, where, meaning in OTHER_KEYS]
    return "\n".join(
        [
            "| annotation | value | default | meaning |",
            "|---|---|---|---|",
            *rows,
            "",
            "| key | what | meaning |",
            "|---|---|---|",
            *others,
            "",
        ]
    )
