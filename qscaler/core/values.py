"""Annotation values as users write them → typed values, or None when invalid.

Each converter takes the stripped text of one annotation and returns the value
or None; the annotation table (`qscaler.core.annotations`) pairs each one with
the sentence that says what would have been valid. Nothing here knows which
annotation it reads, so the same rule (a whole number of replicas, a
duration) is written once however many annotations use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

from qscaler.core.durations import parse_duration
from qscaler.core.policy import StepLimit

#: Sanity bounds: values beyond them are typos, not intentions.
MAX_REPLICAS_BOUND = 100_000
MAX_DURATION_SECONDS = 7 * 24 * 3600.0

_WHOLE = re.compile(r"\d{1,9}")
_NUMBER = re.compile(r"\d{1,12}(?:\.\d{1,9})?")
_E = TypeVar("_E", bound=StrEnum)


def non_empty(value: str) -> str | None:
    return value or None


def positive_number(value: str) -> float | None:
    n = non_negative_number(value)
    return n if n is not None and n > 0 else None


def non_negative_number(value: str) -> float | None:
    return float(value) if _NUMBER.fullmatch(value) else None


def fraction(value: str) -> float | None:
    """0.1 or 10%: the limits and the surge threshold take `%`, so this does too."""
    if value.endswith("%"):
        percent = non_negative_number(value[:-1].strip())
        n = None if percent is None else percent / 100
    else:
        n = non_negative_number(value)
    return n if n is not None and n <= 0.9 else None


def whole_upto(bound: int) -> Callable[[str], int | None]:
    """A converter of whole numbers from 0 to `bound` (no sign, no exponent)."""

    def convert(value: str) -> int | None:
        return int(value) if _WHOLE.fullmatch(value) and int(value) <= bound else None

    return convert


replicas = whole_upto(MAX_REPLICAS_BOUND)


def duration(value: str) -> float | None:
    seconds = parse_duration(value)
    return seconds if seconds is not None and seconds <= MAX_DURATION_SECONDS else None


def positive_duration(value: str) -> float | None:
    seconds = duration(value)
    return seconds if seconds is not None and seconds > 0 else None


def member_of(kind: type[_E]) -> Callable[[str], _E | None]:
    """A value of `kind`, whatever its case and separators: `dry-run`,
    `dry_run` and `DryRun` (the reason's spelling) are one mode."""

    def convert(value: str) -> _E | None:
        wanted = _plain(value)
        return next((m for m in kind if _plain(m.value) == wanted), None)

    return convert


def _plain(word: str) -> str:
    return word.lower().replace("-", "").replace("_", "")


def step_limit(max_percent: float) -> Callable[[str], StepLimit | None]:
    """A converter of `4` (replicas) or `50%` (of the count, at most `max_percent`)."""

    def convert(value: str) -> StepLimit | None:
        if value.endswith("%"):
            percent = positive_number(value[:-1].strip())
            if percent is None or percent > max_percent:
                return None
            return StepLimit(percent=percent)
        whole = replicas(value)
        return StepLimit(replicas=whole) if whole else None

    return convert


def surge_percent(value: str) -> float | None:
    """A percentage above 100% (at most 10,000%), as a multiple of the count."""
    if not value.endswith("%"):
        return None
    percent = positive_number(value[:-1].strip())
    return percent / 100 if percent is not None and 100 < percent <= 10_000 else None
