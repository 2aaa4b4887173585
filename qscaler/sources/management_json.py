"""The management API's queue JSON, parsed defensively.

Everything a scaling decision rests on comes through here, so the rule is: a
number qscaler cannot trust is never turned into a number it acts on.

* Counts (`messages_ready`, `messages_unacknowledged`, `consumers`) must be JSON
  integers from 0 to 2**53. A negative, fractional, NaN/Infinity, string,
  boolean or absurdly large count means the answer is broken (or something
  other than RabbitMQ answered), and the whole response is a `SourceDataError`:
  dropping just that queue would let a `re:` binding sum a backlog that is too
  low.
* Counts that are *absent* (or null) are normal: the broker has not counted a
  queue created within the last statistics interval, and a broker with
  statistics disabled never counts any. Such a queue is "uncounted": reported
  as missing, never as an empty queue.
* Rates are optional: absent before any traffic and with `disable_stats`. A
  negative rate is what a counter reset looks like and says nothing about
  throughput, so it reads as unknown (None); NaN, Infinity and non-numbers are
  a `SourceDataError` like broken counts.
* `ack_rate` is what the consumers finish per second: manual acks plus
  automatic-ack deliveries and gets (ack + deliver_no_ack + get_no_ack); None
  when none of the three was reported.

The same fields come back from RabbitMQ 3.x and 4.x as long as the request
names its `columns` (3.13+ reduce the field set only when it does not; see
tests/fixtures/rabbitmq/README.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qscaler.core.model import QueueStats
from qscaler.errors import SourceDataError

#: The largest count accepted: JSON's exact-integer limit (2**53).
MAX_COUNT = 2**53

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Rate = Annotated[float, Field(allow_inf_nan=False)]

#: The `columns` query parameter: exactly the fields `QueueItem` reads.
COLUMNS = ",".join(
    (
        "name",
        "messages_ready",
        "messages_unacknowledged",
        "consumers",
        "message_stats.publish_details.rate",
        "message_stats.ack_details.rate",
        "message_stats.deliver_no_ack_details.rate",
        "message_stats.get_no_ack_details.rate",
    )
)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class _Details(_Strict):
    rate: Rate | None = None


class _MessageStats(_Strict):
    publish_details: _Details | None = None
    ack_details: _Details | None = None
    deliver_no_ack_details: _Details | None = None
    get_no_ack_details: _Details | None = None


class QueueItem(_Strict):
    """One queue object, list item or single-queue answer alike."""

    name: str
    messages_ready: Count | None = None
    messages_unacknowledged: Count | None = None
    consumers: Count | None = None
    message_stats: _MessageStats | None = None


class QueuePage(_Strict):
    """One page of `GET /api/queues/{vhost}?page=N&...`."""

    items: list[QueueItem]
    page: Annotated[int, Field(ge=1)]
    page_count: Annotated[int, Field(ge=0)]
    page_size: Annotated[int, Field(ge=1)]
    total_count: Count
    filtered_count: Count | None = None


@dataclass(frozen=True, slots=True)
class Parsed:
    """What one response said: counted queues, and names it could not count."""

    counted: Mapping[str, QueueStats]
    uncounted: frozenset[str]


@dataclass(frozen=True, slots=True)
class Page:
    """One listing page, parsed."""

    number: int
    page_count: int
    total: int
    queues: Parsed


def parse_page(body: bytes, vhost: str) -> Page:
    """Parse one listing page; `SourceDataError` when anything is untrustworthy."""
    try:
        page = QueuePage.model_validate_json(body)
    except ValidationError as exc:
        raise SourceDataError(_describe(exc, body, vhost)) from None
    return Page(page.page, page.page_count, page.total_count, _collect(page.items))


def parse_queue(body: bytes, vhost: str, name: str) -> Parsed:
    """Parse a single-queue answer, which must be about the queue `name`."""
    try:
        item = QueueItem.model_validate_json(body)
    except ValidationError as exc:
        raise SourceDataError(_describe(exc, body, vhost, name)) from None
    if item.name != name:
        raise SourceDataError(
            f"the management API answered about queue {item.name!r} when asked for "
            f"{name!r} in vhost {vhost!r}"
        )
    return _collect([item])


def to_stats(item: QueueItem) -> QueueStats | None:
    """The item as `QueueStats`, or None when the broker has not counted it."""
    ready, unacked, consumers = item.messages_ready, item.messages_unacknowledged, item.consumers
    if ready is None or unacked is None or consumers is None:
        return None
    stats = item.message_stats or _MessageStats()
    return QueueStats(
        name=item.name,
        messages_ready=ready,
        messages_unacknowledged=unacked,
        consumers=consumers,
        publish_rate=_rate(stats.publish_details),
        ack_rate=_sum_rates(
            stats.ack_details, stats.deliver_no_ack_details, stats.get_no_ack_details
        ),
    )


def _collect(items: list[QueueItem]) -> Parsed:
    counted: dict[str, QueueStats] = {}
    uncounted: set[str] = set()
    for item in items:
        stats = to_stats(item)
        if stats is None:
            uncounted.add(item.name)
        else:
            counted[item.name] = stats
    return Parsed(counted, frozenset(uncounted - counted.keys()))


def _rate(details: _Details | None) -> float | None:
    if details is None or details.rate is None or details.rate < 0:
        return None
    return details.rate


def _sum_rates(*details: _Details | None) -> float | None:
    rates = [r for r in map(_rate, details) if r is not None]
    return sum(rates) if rates else None


def _describe(exc: ValidationError, body: bytes, vhost: str, name: str | None = None) -> str:
    """One sentence naming the queue and field that broke, without echoing the body."""
    error = exc.errors(include_url=False, include_input=False)[0]
    loc = error["loc"]
    if error["type"] == "json_invalid":
        return f"the management API's answer for vhost {vhost!r} is not valid JSON"
    where = f"vhost {vhost!r}"
    queue = name if name is not None else _item_name(body, loc)
    if queue is not None:
        where += f", queue {queue!r}"
    in_item = len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int)
    field = ".".join(str(p) for p in (loc[2:] if in_item else loc) if not isinstance(p, int))
    return (
        f"unexpected value in the management API's answer for {where}: "
        f"{field or 'the document'}: {error['msg']}"
    )


def _item_name(body: bytes, loc: tuple[int | str, ...]) -> str | None:
    if len(loc) < 2 or loc[0] != "items" or not isinstance(loc[1], int):
        return None
    try:
        item: Any = json.loads(body)["items"][loc[1]]
    except (ValueError, LookupError, TypeError):
        return None
    name = item.get("name") if isinstance(item, dict) else None
    return name if isinstance(name, str) else None
