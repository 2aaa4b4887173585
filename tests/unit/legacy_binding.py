"""Parse a workload's `qscaler.io/*` annotations into a `Policy`.

This is the one place that reads user-written annotations. It collects every
problem instead of stopping at the first, so one Event tells the user all they
must fix, and each problem names the annotation, the value and what would be
valid. A `BindingError` concerns this workload only: the loop reports it and
keeps scaling every other workload.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import regex

from qscaler.core.durations import parse_duration
from qscaler.core.policy import (
    Aggregate,
    CountMode,
    ForecastMode,
    Mode,
    Policy,
    QueueSelector,
    StepLimit,
)
from qscaler.errors import BindingError

PREFIX = "qscaler.io/"
#: The label a workload carries to opt in (filtered server-side by the watch).
ENABLED_LABEL = PREFIX + "enabled"

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
#: The broker of workloads without `qscaler.io/broker`: the one QSCALER_* settings describe.
DEFAULT_BROKER = "default"

KNOWN = (
    QUEUES, VHOST, MESSAGES_PER_REPLICA, MIN_REPLICAS, MAX_REPLICAS, COOLDOWN, COUNT,
    AGGREGATE, ACTIVATION_MESSAGES, TARGET_DRAIN_SECONDS, SCALE_UP_LIMIT, SCALE_DOWN_LIMIT,
    FALLBACK_REPLICAS, MODE, TOLERANCE, RATE_WINDOW, STANDING_WAIT, SURGE_THRESHOLD, FORECAST,
    BROKER,
)  # fmt: skip
#: Keys under the prefix that are not policy (the opt-in label, when someone
#: also writes it as an annotation).
_IGNORED = frozenset({ENABLED_LABEL})

#: RabbitMQ refuses queue names longer than 255 bytes.
MAX_QUEUE_NAME_BYTES = 255
#: Sanity bounds: values beyond them are typos, not intentions.
MAX_REPLICAS_BOUND = 100_000
MAX_DURATION_SECONDS = 7 * 24 * 3600.0
MAX_PATTERN_LENGTH = 1000

_WHOLE = re.compile(r"\d{1,9}")
_NUMBER = re.compile(r"\d{1,12}(?:\.\d{1,9})?")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ProcessDefaults:
    """Process-wide policy knobs that come from settings, not annotations."""

    stale_after_seconds: float = 60.0
    fallback_after_failures: int = 3
    default_cooldown_seconds: float = 300.0  # backlog mode
    #: Rate-aware mode sizes for an averaged arrival rate and keeps busy
    #: replicas while a queue drains (decide's Draining step), so it needs a
    #: much shorter window to be stable: 30 s measured best in the benchmark.
    default_rate_aware_cooldown_seconds: float = 30.0
    #: The brokers a workload may name (`qscaler.io/broker`).
    brokers: tuple[str, ...] = (DEFAULT_BROKER,)


class _Reader:
    """Reads one annotation at a time, remembering every problem."""

    def __init__(self, annotations: Mapping[str, str]) -> None:
        self.annotations = annotations
        self.problems: list[str] = []

    def raw(self, key: str) -> str | None:
        value = self.annotations.get(key)
        return None if value is None else value.strip()

    def problem(self, key: str, value: str, valid: str) -> None:
        self.problems.append(f'{key} "{_shorten(value)}" {valid}')

    def get(self, key: str, default: _T, convert: Callable[[str], _T | None], valid: str) -> _T:
        value = self.raw(key)
        if value is None:
            return default
        converted = convert(value)
        if converted is None:
            self.problem(key, value, valid)
            return default
        return converted


def parse_binding(
    annotations: Mapping[str, str], defaults: ProcessDefaults = ProcessDefaults()
) -> Policy:
    """The policy the annotations describe, or `BindingError` listing every problem."""
    r = _Reader(annotations)
    _check_unknown_keys(r)
    vhost = r.get(VHOST, "/", _non_empty, "is not a vhost name: it must not be empty")
    queues = _parse_queues(r, vhost, _broker(r, defaults.brokers))
    mpr = r.get(MESSAGES_PER_REPLICA, None, _positive_number, "is not a number above 0")
    drain = r.get(
        TARGET_DRAIN_SECONDS, None, _positive_duration,
        "is not a duration above 0 (for example 60, 60s or 2m)",
    )  # fmt: skip
    if r.raw(MESSAGES_PER_REPLICA) is None and r.raw(TARGET_DRAIN_SECONDS) is None:
        r.problems.append(
            f"{MESSAGES_PER_REPLICA} is required unless {TARGET_DRAIN_SECONDS} is set"
        )
    min_r = r.get(MIN_REPLICAS, 1, _whole_upto(MAX_REPLICAS_BOUND), _whole_msg(0))
    max_r = r.get(MAX_REPLICAS, 10, _whole_upto(MAX_REPLICAS_BOUND), _whole_msg(1))
    if max_r == 0 and r.raw(MAX_REPLICAS) is not None:
        r.problem(MAX_REPLICAS, "0", "must be at least 1")
    elif min_r > max_r:
        r.problems.append(f"{MIN_REPLICAS} {min_r} > {MAX_REPLICAS} {max_r}")
    fallback = r.get(FALLBACK_REPLICAS, None, _whole_upto(MAX_REPLICAS_BOUND), _whole_msg(0))
    if fallback is not None and not min_r <= fallback <= max_r:
        r.problems.append(
            f"{FALLBACK_REPLICAS} {fallback} is outside [{MIN_REPLICAS} {min_r}, "
            f"{MAX_REPLICAS} {max_r}]"
        )
    default_cooldown = (
        defaults.default_cooldown_seconds
        if drain is None
        else defaults.default_rate_aware_cooldown_seconds
    )
    policy = Policy(
        queues=queues,
        messages_per_replica=mpr,
        target_drain_seconds=drain,
        min_replicas=min_r,
        max_replicas=max_r,
        cooldown_seconds=r.get(
            COOLDOWN,
            default_cooldown,
            _duration,
            "is not a duration (for example 300, 300s, 5m, 1h30m; at most 7 days)",
        ),
        count=r.get(COUNT, CountMode.ALL, _enum(CountMode), _one_of(CountMode)),
        aggregate=r.get(AGGREGATE, Aggregate.SUM, _enum(Aggregate), _one_of(Aggregate)),
        activation_messages=r.get(
            ACTIVATION_MESSAGES, 0.0, _non_negative_number, "is not a number of messages (≥ 0)"
        ),
        scale_up_limit=r.get(SCALE_UP_LIMIT, None, _step_limit(1000), _limit_msg(1000)),
        scale_down_limit=r.get(SCALE_DOWN_LIMIT, None, _step_limit(100), _limit_msg(100)),
        fallback_replicas=fallback,
        mode=r.get(MODE, Mode.ACTIVE, _enum(Mode), _one_of(Mode)),
        tolerance=r.get(
            TOLERANCE, 0.1, _fraction, "is not a fraction between 0 and 0.9 (or 0% to 90%)"
        ),
        rate_window_seconds=r.get(
            RATE_WINDOW, 30.0, _duration, "is not a duration (for example 0, 30s, 2m)"
        ),
        standing_wait_seconds=r.get(
            STANDING_WAIT, 10.0, _duration, "is not a duration (for example 0, 10s)"
        ),
        surge_threshold=r.get(
            SURGE_THRESHOLD,
            2.0,
            _surge_percent,
            "is not a percentage above 100% (for example 200%)",
        ),
        forecast=r.get(FORECAST, ForecastMode.ON, _enum(ForecastMode), _one_of(ForecastMode)),
        stale_after_seconds=defaults.stale_after_seconds,
        fallback_after_failures=defaults.fallback_after_failures,
    )
    if r.problems:
        raise BindingError(r.problems)
    return policy


def _check_unknown_keys(r: _Reader) -> None:
    """An unknown key under the prefix is a problem, and so is a key whose
    prefix is a near miss of it (`qsclaer.io/max-replicas`): left alone, the
    workload would scale on defaults while its owner believes otherwise."""
    for key in sorted(r.annotations):
        if key.startswith(PREFIX):
            if key not in KNOWN and key not in _IGNORED:
                r.problems.append(f"unknown annotation {_shorten(key)}{_suggestion(key)}")
        elif _near_prefix(key):
            meant = PREFIX + key.split("/", 1)[1]
            r.problems.append(
                f"annotation {_shorten(key)} is not read: its prefix is not {PREFIX}"
                f"{_suggestion(meant)}"
            )


def _suggestion(key: str) -> str:
    """ "; did you mean K?" for a plausible typo, else the list of known keys.

    Only the part after the prefix is compared (the shared prefix would make
    any short key look close), and only when it is about a known key's
    length: a long key is not a typo of a short one, and difflib's cost
    grows with the length.
    """
    tail, tails = key.removeprefix(PREFIX), [k.removeprefix(PREFIX) for k in KNOWN]
    plausible = len(tail) <= max(len(t) for t in tails) + 3
    close = difflib.get_close_matches(tail, tails, n=1, cutoff=0.75) if plausible else []
    return f"; did you mean {PREFIX}{close[0]}?" if close else f"; known: {', '.join(KNOWN)}"


def _near_prefix(key: str) -> bool:
    """Whether the key's prefix (up to its "/") is within two edits of `qscaler.io/`."""
    head, slash, _ = key.partition("/")
    return bool(slash) and abs(len(head) - len(PREFIX) + 1) <= 2 and _edits(head + "/", PREFIX) <= 2


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions), with a
    swap of neighbours counted as one, as typing slips are."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def _broker(r: _Reader, known: tuple[str, ...]) -> str:
    name = r.raw(BROKER)
    if name is None:
        return DEFAULT_BROKER
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(known))}"
        r.problem(BROKER, name, f"is not a broker of the brokers file; {hint}")
        return DEFAULT_BROKER
    return name


def _parse_queues(r: _Reader, vhost: str, broker: str) -> QueueSelector:
    value = r.raw(QUEUES)
    if value is None:
        r.problems.append(f"{QUEUES} is required: a comma-separated list of queue names")
        return QueueSelector(vhost=vhost, broker=broker)
    names: list[str] = []
    patterns: list[regex.Pattern[str]] = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        if entry.startswith("re:"):
            pattern = _compile(r, entry)
            if pattern is not None and pattern.pattern not in [p.pattern for p in patterns]:
                patterns.append(pattern)
        elif len(entry.encode()) > MAX_QUEUE_NAME_BYTES:
            r.problem(QUEUES, entry, f"is longer than RabbitMQ's {MAX_QUEUE_NAME_BYTES} bytes")
        elif entry not in names:
            names.append(entry)
    if not names and not patterns and not r.problems:
        r.problem(QUEUES, value, "names no queue: give at least one name or re:<regex>")
    return QueueSelector(vhost, tuple(names), tuple(patterns), broker)


def _compile(r: _Reader, entry: str) -> regex.Pattern[str] | None:
    source = entry[3:]
    if not source or len(source) > MAX_PATTERN_LENGTH:
        r.problem(QUEUES, entry, f"needs a regular expression of 1 to {MAX_PATTERN_LENGTH} chars")
        return None
    try:
        return regex.compile(source, regex.VERSION0)
    except (regex.error, OverflowError, RecursionError, ValueError) as exc:
        r.problem(QUEUES, entry, f"is not a valid regular expression ({exc})")
        return None


def _shorten(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _non_empty(value: str) -> str | None:
    return value or None


def _positive_number(value: str) -> float | None:
    n = _non_negative_number(value)
    return n if n is not None and n > 0 else None


def _non_negative_number(value: str) -> float | None:
    return float(value) if _NUMBER.fullmatch(value) else None


def _fraction(value: str) -> float | None:
    """0.1 or 10%: the limits and the surge threshold take `%`, so this does too."""
    if value.endswith("%"):
        percent = _non_negative_number(value[:-1].strip())
        n = None if percent is None else percent / 100
    else:
        n = _non_negative_number(value)
    return n if n is not None and n <= 0.9 else None


def _whole_upto(bound: int) -> Callable[[str], int | None]:
    def convert(value: str) -> int | None:
        return int(value) if _WHOLE.fullmatch(value) and int(value) <= bound else None

    return convert


def _whole_msg(least: int) -> str:
    return f"is not a whole number between {least} and {MAX_REPLICAS_BOUND}"


def _duration(value: str) -> float | None:
    seconds = parse_duration(value)
    return seconds if seconds is not None and seconds <= MAX_DURATION_SECONDS else None


def _positive_duration(value: str) -> float | None:
    seconds = _duration(value)
    return seconds if seconds is not None and seconds > 0 else None


def _enum(kind: type[_T]) -> Callable[[str], _T | None]:
    """A value of `kind`, whatever its case and separators: `dry-run`,
    `dry_run` and `DryRun` (the reason's spelling) are one mode."""

    def convert(value: str) -> _T | None:
        wanted = _plain(value)
        for member in kind:  # type: ignore[attr-defined]
            if _plain(member.value) == wanted:
                return member  # type: ignore[no-any-return]
        return None

    return convert


def _plain(word: str) -> str:
    return word.lower().replace("-", "").replace("_", "")


def _one_of(kind: type[Mode] | type[CountMode] | type[Aggregate] | type[ForecastMode]) -> str:
    return "is not one of " + ", ".join(m.value for m in kind)


def _step_limit(max_percent: float) -> Callable[[str], StepLimit | None]:
    def convert(value: str) -> StepLimit | None:
        if value.endswith("%"):
            percent = _positive_number(value[:-1].strip())
            if percent is None or percent > max_percent:
                return None
            return StepLimit(percent=percent)
        whole = _whole_upto(MAX_REPLICAS_BOUND)(value)
        return StepLimit(replicas=whole) if whole else None

    return convert


def _surge_percent(value: str) -> float | None:
    if not value.endswith("%"):
        return None
    percent = _positive_number(value[:-1].strip())
    return percent / 100 if percent is not None and 100 < percent <= 10_000 else None


def _limit_msg(max_percent: float) -> str:
    return (
        f"is not a replica count (a whole number ≥ 1) or a percentage "
        f"(above 0% and at most {max_percent:g}%)"
    )
