"""What the forecast learned for one workload, as a short versioned text, and back. Pure.

The forecast's history (`qscaler.core.forecast`) takes hours of traffic to
learn; it is kept outside the process (`qscaler.kube.forecast_store`) so that
a restart or a new leader starts from it. This module only turns it into text
and back; where the text lives is the store's business.

* **What is kept**: the `ForecastState`, and the two learned figures the
  forecast's floor is computed from, the per-replica throughput and the
  start-up time. Without them a restored history could not raise a floor
  before the next burst had taught the throughput again: too late for that
  burst, which is the one a restart must not miss.
* **Clocks**: the state counts buckets on the loop's clock (monotonic,
  seconds since this machine booted), which means nothing to another process.
  The text counts them on the wall clock: `offset` (wall clock minus loop
  clock, in seconds) is added on the way out and taken off on the way in,
  in whole buckets.
* **Size**: floats are rounded to `DIGITS` significant digits and whole
  numbers written without a decimal point; an entry longer than `max_bytes`
  keeps its newest buckets (the oldest go first, as they would in memory).
* **Trust in the input**: `decode` returns None for anything that is not an
  entry of this `VERSION` with every field in range (corrupt, truncated,
  written by another version): the caller then starts that workload fresh.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from qscaler.core.forecast import BUCKET_SECONDS, CAPACITY, Expected, ForecastState
from qscaler.core.model import History

#: The entry format's version; an entry of any other is ignored, never guessed at.
VERSION = 1
#: Significant digits kept of every rate and figure.
DIGITS = 4
#: A text longer than this is not even parsed.
MAX_TEXT = 1 << 20


@dataclass(frozen=True, slots=True)
class Memory:
    """What one workload's forecast needs to pick up where it was left."""

    state: ForecastState
    throughput: float | None = None
    throughput_confirmed: bool = False
    startup_seconds: float | None = None


def remembered(history: History) -> Memory | None:
    """The part of a workload's history worth keeping; None before the forecast has any."""
    if history.forecast is None:
        return None
    learned = history.rate_aware
    return Memory(
        history.forecast,
        learned.throughput,
        learned.throughput_confirmed,
        learned.startup_seconds,
    )


def seeded(history: History, memory: Memory) -> History:
    """`history` with what an earlier process learned put back in.

    The forecast's state goes back to `History.forecast`, the two figures to
    rate-aware mode's own state (`History.rate_aware`), where sizing reads them.
    """
    learned = replace(
        history.rate_aware,
        throughput=memory.throughput,
        throughput_confirmed=memory.throughput_confirmed,
        startup_seconds=memory.startup_seconds,
    )
    return replace(history, forecast=memory.state, rate_aware=learned)


# --- out ---


def encode(memory: Memory, offset: float, saved_at: float, max_bytes: int) -> str:
    """Compact JSON of `memory`, on the wall clock, at most `max_bytes` long
    (dropping the oldest buckets when it must).

    The fit is found by bisection on how many of the newest buckets to keep,
    as the length of a bucket's number varies.
    """
    text = _text(memory.state, memory, offset, saved_at)
    if len(text.encode()) <= max_bytes:
        return text
    low, high = 0, len(memory.state.rates)  # keeping `low` buckets fits (0 always does)
    while low < high:
        keep = (low + high + 1) // 2
        fits = len(_text(_newest(memory.state, keep), memory, offset, saved_at).encode())
        low, high = (keep, high) if fits <= max_bytes else (low, keep - 1)
    return _text(_newest(memory.state, low), memory, offset, saved_at)


def _newest(state: ForecastState, keep: int) -> ForecastState:
    dropped = len(state.rates) - keep
    return replace(state, first=state.first + dropped, rates=state.rates[dropped:])


def _text(state: ForecastState, memory: Memory, offset: float, saved_at: float) -> str:
    shift = _shift(offset)
    document = {
        "v": VERSION,
        "at": round(saved_at),
        "first": state.first + shift,
        "rates": [None if r is None else _round(r) for r in state.rates],
        "open": None
        if state.open_bucket is None
        else [state.open_bucket + shift, _round(state.open_sum), state.open_count],
        "trust": _round(state.trust),
        "expected": None
        if state.expected is None
        else [state.expected.bucket + shift, _round(state.expected.rate)],
        "period": state.period,
        "throughput": None
        if memory.throughput is None
        else [_round(memory.throughput), memory.throughput_confirmed],
        "startup": None if memory.startup_seconds is None else _round(memory.startup_seconds),
    }
    return json.dumps(document, separators=(",", ":"), allow_nan=False)


def _shift(offset: float) -> int:
    """Whole buckets between the loop's clock and the wall clock."""
    return round(offset / BUCKET_SECONDS)


def _round(value: float) -> float | int:
    """`DIGITS` significant digits; a whole number as an int (shorter in JSON)."""
    rounded = float(f"{value:.{DIGITS}g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded


# --- in ---


class _Bad(ValueError):
    """A field is missing, of the wrong type or out of range."""


def saved_at(text: str) -> float | None:
    """When an entry was written (wall clock), or None when it is not an entry."""
    try:
        return _number(_document(text).get("at"))
    except _Bad:
        return None


def decode(text: str, offset: float) -> Memory | None:
    """The memory an entry holds, moved onto the loop's clock; None when the
    entry is not one this version wrote, whole and in range."""
    try:
        return _memory(_document(text), _shift(offset))
    except _Bad:
        return None


def _document(text: str) -> dict[str, Any]:
    if len(text) > MAX_TEXT:
        raise _Bad("too long")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise _Bad("not JSON") from None
    if not isinstance(document, dict) or document.get("v") != VERSION:
        raise _Bad("not an entry of this version")
    return document


def _memory(document: dict[str, Any], shift: int) -> Memory:
    throughput = _pair(document.get("throughput"))
    return Memory(
        _state(document, shift),
        throughput=None if throughput is None else _positive(throughput[0]),
        throughput_confirmed=False if throughput is None else _flag(throughput[1]),
        startup_seconds=_optional(document.get("startup")),
    )


def _state(document: dict[str, Any], shift: int) -> ForecastState:
    rates = document.get("rates")
    if not isinstance(rates, list) or len(rates) > CAPACITY:
        raise _Bad("rates")
    opened, expected = _pair(document.get("open"), 3), _pair(document.get("expected"))
    trust = _number(document.get("trust"))
    if trust > 1:
        raise _Bad("trust")
    period = document.get("period")
    return ForecastState(
        first=_integer(document.get("first")) - shift,
        rates=tuple(_optional(r) for r in rates),
        open_bucket=None if opened is None else _integer(opened[0]) - shift,
        open_sum=0.0 if opened is None else _number(opened[1]),
        open_count=0 if opened is None else _positive_integer(opened[2]),
        trust=trust,
        expected=None
        if expected is None
        else Expected(_integer(expected[0]) - shift, _number(expected[1])),
        period=None if period is None else _positive_integer(period),
    )


def _pair(value: object, length: int = 2) -> list[Any] | None:
    """None, or a list of `length` items."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != length:
        raise _Bad("not a list of the right length")
    return value


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**53:
        raise _Bad("not an integer in range")
    return value


def _positive_integer(value: object) -> int:
    number = _integer(value)
    if number < 1:
        raise _Bad("not positive")
    return number


def _number(value: object) -> float:
    """A finite number, not below 0 (every figure kept is a rate, a count or a time)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad("not a number")
    number = float(value) if abs(value) < 2**53 else math.inf
    if not math.isfinite(number) or number < 0:
        raise _Bad("out of range")
    return number


def _positive(value: object) -> float:
    number = _number(value)
    if number <= 0:
        raise _Bad("not positive")
    return number


def _optional(value: object) -> float | None:
    return None if value is None else _number(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Bad("not a boolean")
    return value
