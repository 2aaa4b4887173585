"""Parse a workload's `qscaler.io/*` annotations into a `Policy`.

This is the one place that reads user-written annotations. It collects every
problem instead of stopping at the first, so one Event tells the user all they
must fix, and each problem names the annotation, the value and what would be
valid. A `BindingError` concerns this workload only: the loop reports it and
keeps scaling every other workload.

What each annotation is (key, valid values, default, converter) is a row of
`qscaler.core.annotations`; `parse_binding` is one loop over those rows. This
module adds only what one row cannot say: the queues, bound to the vhost and
broker read before them; the broker, one of the brokers file's; the cooldown's
default, which depends on the mode and the settings; and the checks that
compare two annotations.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import regex

from qscaler.core import defaults as d
from qscaler.core.annotations import (
    ANNOTATIONS,
    BROKER,
    COOLDOWN,
    ENABLED_LABEL,
    FALLBACK_REPLICAS,
    KNOWN,
    MAX_PATTERN_LENGTH,
    MAX_QUEUE_NAME_BYTES,
    MAX_REPLICAS,
    MESSAGES_PER_REPLICA,
    MIN_REPLICAS,
    PREFIX,
    QUEUES,
    TARGET_DRAIN_SECONDS,
    VHOST,
    Annotation,
    read_order,
)
from qscaler.core.policy import Policy, QueueSelector
from qscaler.errors import BindingError

#: Keys under the prefix that are not policy (the opt-in label, when someone
#: also writes it as an annotation).
_IGNORED = frozenset({ENABLED_LABEL})


@dataclass(frozen=True, slots=True)
class ProcessDefaults:
    """Process-wide policy knobs that come from settings, not annotations."""

    stale_after_seconds: float = d.STALE_AFTER_SECONDS
    fallback_after_failures: int = d.FALLBACK_AFTER_FAILURES
    default_cooldown_seconds: float = d.COOLDOWN_SECONDS  # backlog mode
    default_rate_aware_cooldown_seconds: float = d.RATE_AWARE_COOLDOWN_SECONDS
    #: The brokers a workload may name (`qscaler.io/broker`).
    brokers: tuple[str, ...] = (d.DEFAULT_BROKER,)


class _Reader:
    """Reads one annotation at a time, remembering every problem and value."""

    def __init__(self, annotations: Mapping[str, str], defaults: ProcessDefaults) -> None:
        self.annotations = annotations
        self.defaults = defaults
        self.problems: list[str] = []
        #: What each annotation read so far gave (its default when absent or invalid).
        self.values: dict[str, Any] = {}

    def raw(self, key: str) -> str | None:
        value = self.annotations.get(key)
        return None if value is None else value.strip()

    def problem(self, key: str, value: str, valid: str) -> None:
        self.problems.append(f'{key} "{_shorten(value)}" {valid}')


def parse_binding(
    annotations: Mapping[str, str], defaults: ProcessDefaults = ProcessDefaults()
) -> Policy:
    """The policy the annotations describe, or `BindingError` listing every problem.

    Each row is read in the table's read order, keeping its default when the
    value is invalid so that the checks after it still compare values, and
    every problem is reported in that order.
    """
    r = _Reader(annotations, defaults)
    _check_unknown_keys(r)
    for row in _READ_ORDER:
        r.values[row.key] = _RULES.get(row.key, _read)(r, row)
        check = _CHECKS.get(row.key)
        if check is not None:
            check(r)
    if r.problems:
        raise BindingError(r.problems)
    fields = {row.field: r.values[row.key] for row in ANNOTATIONS if row.field is not None}
    return Policy(
        **fields,
        stale_after_seconds=defaults.stale_after_seconds,
        fallback_after_failures=defaults.fallback_after_failures,
    )


def _read(r: _Reader, row: Annotation) -> object:
    return _converted(r, row, row.default)


def _converted(r: _Reader, row: Annotation, default: object) -> object:
    """The row's value, or `default` when absent (and when invalid, with its problem)."""
    value = r.raw(row.key)
    if value is None or row.convert is None:
        return default
    converted = row.convert(value)
    if converted is None:
        r.problem(row.key, value, row.invalid)
        return default
    return converted


def _cooldown(r: _Reader, row: Annotation) -> object:
    """The cooldown's default is a setting, and rate-aware mode has its own."""
    rate_aware = r.values[TARGET_DRAIN_SECONDS] is not None
    return _converted(
        r,
        row,
        r.defaults.default_rate_aware_cooldown_seconds
        if rate_aware
        else r.defaults.default_cooldown_seconds,
    )


def _broker(r: _Reader, row: Annotation) -> str:
    """A broker the brokers file names; a near miss gets a "did you mean"."""
    name = r.raw(BROKER)
    if name is None:
        return d.DEFAULT_BROKER
    known = r.defaults.brokers
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(sorted(known))}"
        r.problem(BROKER, name, f"{row.invalid}; {hint}")
        return d.DEFAULT_BROKER
    return name


def _queues(r: _Reader, row: Annotation) -> QueueSelector:
    """The queue names and `re:` patterns, bound to the vhost and broker read before."""
    vhost, broker = r.values[VHOST], r.values[BROKER]
    value = r.raw(QUEUES)
    if value is None:
        r.problems.append(f"{QUEUES} is required: {row.value}")
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


def _sizing_given(r: _Reader) -> None:
    """Backlog mode needs messages per replica, rate-aware mode a drain time: one of them."""
    if r.raw(MESSAGES_PER_REPLICA) is None and r.raw(TARGET_DRAIN_SECONDS) is None:
        r.problems.append(
            f"{MESSAGES_PER_REPLICA} is required unless {TARGET_DRAIN_SECONDS} is set"
        )


def _bounds_ordered(r: _Reader) -> None:
    """At least one replica at most, and no more at least than at most."""
    low, high = r.values[MIN_REPLICAS], r.values[MAX_REPLICAS]
    if high == 0 and r.raw(MAX_REPLICAS) is not None:
        r.problem(MAX_REPLICAS, "0", "must be at least 1")
    elif low > high:
        r.problems.append(f"{MIN_REPLICAS} {low} > {MAX_REPLICAS} {high}")


def _fallback_within_bounds(r: _Reader) -> None:
    """A fallback outside the bounds could never be held."""
    low, high = r.values[MIN_REPLICAS], r.values[MAX_REPLICAS]
    fallback = r.values[FALLBACK_REPLICAS]
    if fallback is not None and not low <= fallback <= high:
        r.problems.append(
            f"{FALLBACK_REPLICAS} {fallback} is outside [{MIN_REPLICAS} {low}, "
            f"{MAX_REPLICAS} {high}]"
        )


_READ_ORDER = read_order()
#: Rows whose value depends on more than their own text.
_RULES: dict[str, Callable[[_Reader, Annotation], object]] = {
    QUEUES: _queues,
    BROKER: _broker,
    COOLDOWN: _cooldown,
}
#: Checks run right after their row, comparing it with the rows read before.
_CHECKS: dict[str, Callable[[_Reader], None]] = {
    TARGET_DRAIN_SECONDS: _sizing_given,
    MAX_REPLICAS: _bounds_ordered,
    FALLBACK_REPLICAS: _fallback_within_bounds,
}


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


def _shorten(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"
