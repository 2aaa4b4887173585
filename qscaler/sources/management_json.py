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
* A listing page must agree with itself: as many items as its `item_count`,
  and as many pages as its queue count needs. A page with items missing (cut
  or emptied on the way) would make a `re:` binding sum a smaller backlog, so
  it is a `SourceDataError` too.
* Queue types: `classic` and `quorum` counts mean what they say. A `stream`
  reports the length of its retained log as ready, which never falls when
  consumers read, so a stream is set aside for its consumers' offset lag
  (`qscaler.sources.streams`). Any other type is reported with why, never
  read as a number.
* `ack_rate` is what the consumers finish per second: manual acks plus
  automatic-ack deliveries and gets (ack + deliver_no_ack + get_no_ack); None
  when none of the three was reported.

The same fields come back from RabbitMQ 3.x and 4.x as long as the request
names its `columns` (3.13+ reduce the field set only when it does not; see
tests/fixtures/rabbitmq/README.md).

A listing of 20,000 queues is parsed every poll, so the queue objects are
validated into TypedDicts rather than models: the same strict checks in
pydantic-core, without building five model instances per queue (this halves
the parse; docs/performance.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, NotRequired

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from qscaler.core.model import QueueStats
from qscaler.errors import SourceDataError

#: The largest count accepted: JSON's exact-integer limit (2**53).
MAX_COUNT = 2**53

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
#: Queue types whose ready and unacknowledged counts are a backlog (None: a
#: broker or a recording that does not name the type, which is classic).
READ_TYPES = frozenset({"classic", "quorum", None})
Rate = Annotated[float, Field(allow_inf_nan=False)]

#: The `columns` query parameter: exactly the fields `QueueItem` reads.
COLUMNS = ",".join(
    (
        "name",
        "type",
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


_STRICT = ConfigDict(strict=True, extra="ignore")


@with_config(_STRICT)
class _Details(TypedDict):
    rate: NotRequired[Rate | None]


@with_config(_STRICT)
class _MessageStats(TypedDict):
    publish_details: NotRequired[_Details | None]
    ack_details: NotRequired[_Details | None]
    deliver_no_ack_details: NotRequired[_Details | None]
    get_no_ack_details: NotRequired[_Details | None]


@with_config(_STRICT)
class QueueItem(TypedDict):
    """One queue object, list item or single-queue answer alike."""

    name: str
    type: NotRequired[str | None]
    messages_ready: NotRequired[Count | None]
    messages_unacknowledged: NotRequired[Count | None]
    consumers: NotRequired[Count | None]
    message_stats: NotRequired[_MessageStats | None]


_ITEM = TypeAdapter(QueueItem)
_LISTING = TypeAdapter(list[QueueItem])


class QueuePage(_Strict):
    """One page of `GET /api/queues/{vhost}?page=N&...`."""

    items: list[QueueItem]
    page: Annotated[int, Field(ge=1)]
    page_count: Annotated[int, Field(ge=0)]
    page_size: Annotated[int, Field(ge=1)]
    total_count: Count
    filtered_count: Count | None = None
    item_count: Count | None = None


@dataclass(frozen=True, slots=True)
class Parsed:
    """What one response said: counted queues, names it could not count, streams
    (whose counts are no backlog: `qscaler.sources.streams`), and queues of a
    type qscaler does not read, with why."""

    counted: Mapping[str, QueueStats]
    uncounted: frozenset[str]
    streams: frozenset[str] = frozenset()
    other_types: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Page:
    """One listing page, parsed."""

    number: int
    page_count: int
    total: int
    queues: Parsed


def seen(parsed: Parsed) -> set[str]:
    """Every queue name the answer showed, counted or not."""
    return {*parsed.counted, *parsed.uncounted, *parsed.streams, *parsed.other_types}


def merge(*parts: Parsed) -> Parsed:
    """One answer from several read one after another; a queue is what the last one said."""
    counted: dict[str, QueueStats] = {}
    uncounted: set[str] = set()
    streams: set[str] = set()
    other_types: dict[str, str] = {}
    for part in parts:  # later parts were read later: a name is what it was last
        for name in seen(part):
            counted.pop(name, None)
            uncounted.discard(name)
            streams.discard(name)
            other_types.pop(name, None)
        counted.update(part.counted)
        uncounted.update(part.uncounted)
        streams.update(part.streams)
        other_types.update(part.other_types)
    return Parsed(counted, frozenset(uncounted), frozenset(streams), other_types)


def parse_page(body: bytes, vhost: str) -> Page:
    """Parse one listing page; `SourceDataError` when anything is untrustworthy."""
    try:
        page = QueuePage.model_validate_json(body)
    except ValidationError as exc:
        raise SourceDataError(_describe(exc, body, vhost)) from None
    _check_page(page, vhost)
    return Page(page.page, page.page_count, page.total_count, _collect(page.items))


def parse_listing(body: bytes, vhost: str) -> Parsed:
    """Parse an unpaged listing (a JSON array of queues); `SourceDataError` on nonsense."""
    try:
        items = _LISTING.validate_json(body)
    except ValidationError as exc:
        raise SourceDataError(_describe(exc, body, vhost)) from None
    return _collect(items)


def parse_totals(body: bytes, vhost: str) -> Parsed:
    """Parse `GET /api/queues/{vhost}?disable_stats=true&enable_queue_totals=true`.

    This listing reads each queue's counts from the queue itself, without the
    management statistics database, so it answers with the metrics collector
    off (RabbitMQ 3.8.10 and later). It has no consumers and no rates: rate-aware
    bindings say they cannot learn (qscaler.core.rate_aware). A stream's counts
    are null here, and streams are read by their consumers' lag anyway."""
    try:
        items = _LISTING.validate_json(body)
    except ValidationError as exc:
        raise SourceDataError(_describe(exc, body, vhost)) from None
    return _collect(items, totals=True)


def _check_page(page: QueuePage, vhost: str) -> None:
    """Refuse a page whose items or page count contradict its own counts."""
    where = f"page {page.page} of the queues of vhost {vhost!r}"
    if page.item_count is not None and page.item_count != len(page.items):
        raise SourceDataError(
            f"{where} holds {len(page.items)} queue(s) but says item_count "
            f"{page.item_count}: the answer was cut or altered on its way"
        )
    listed = page.total_count if page.filtered_count is None else page.filtered_count
    needed = -(-listed // page.page_size)
    if page.page_count not in (needed, max(1, needed)):
        raise SourceDataError(
            f"{where} says page_count {page.page_count}, but {listed} queue(s) in pages of "
            f"{page.page_size} take {needed}: not trusting a listing that would skip pages"
        )


def parse_queue(body: bytes, vhost: str, name: str) -> Parsed:
    """Parse a single-queue answer, which must be about the queue `name`."""
    try:
        item = _ITEM.validate_json(body)
    except ValidationError as exc:
        raise SourceDataError(_describe(exc, body, vhost, name)) from None
    if item["name"] != name:
        raise SourceDataError(
            f"the management API answered about queue {item['name']!r} when asked for "
            f"{name!r} in vhost {vhost!r}"
        )
    return _collect([item])


def to_stats(item: QueueItem, *, totals: bool = False) -> QueueStats | None:
    """The item as `QueueStats`, or None when the broker has not counted it.

    `totals`: an item of the statistics-free listing, which has counts but no
    consumers and no rates; its consumers read as 0 (nothing sizes on them
    without rates: see `parse_totals`)."""
    ready = item.get("messages_ready")
    unacked = item.get("messages_unacknowledged")
    consumers = item.get("consumers", 0 if totals else None)
    if ready is None or unacked is None or consumers is None:
        return None
    stats = item.get("message_stats")
    if stats is None:  # no traffic yet: no rates
        return QueueStats(item["name"], ready, unacked, consumers)
    return QueueStats(
        name=item["name"],
        messages_ready=ready,
        messages_unacknowledged=unacked,
        consumers=consumers,
        publish_rate=_rate(stats.get("publish_details")),
        ack_rate=_ack_rate(stats),
    )


def _collect(items: list[QueueItem], *, totals: bool = False) -> Parsed:
    counted: dict[str, QueueStats] = {}
    uncounted: set[str] = set()
    streams: set[str] = set()
    other_types: dict[str, str] = {}
    for item in items:
        kind = item.get("type")
        if kind == "stream":
            streams.add(item["name"])
            continue
        if kind not in READ_TYPES:
            other_types[item["name"]] = (
                f"its queue type {kind!r} is not one qscaler reads "
                f"({', '.join(sorted(t for t in READ_TYPES if t))} or stream)"
            )
            continue
        stats = to_stats(item, totals=totals)
        if stats is None:
            uncounted.add(item["name"])
        else:
            counted[item["name"]] = stats
    return Parsed(counted, frozenset(uncounted - counted.keys()), frozenset(streams), other_types)


def _rate(details: _Details | None) -> float | None:
    rate = None if details is None else details.get("rate")
    return None if rate is None or rate < 0 else rate


def _ack_rate(stats: _MessageStats) -> float | None:
    """ack + deliver_no_ack + get_no_ack, of those reported; None if none is."""
    total = None
    acks = stats.get("ack_details"), stats.get("deliver_no_ack_details")
    for details in (*acks, stats.get("get_no_ack_details")):
        rate = _rate(details)
        if rate is not None:
            total = rate if total is None else total + rate
    return total


def _describe(exc: ValidationError, body: bytes, vhost: str, name: str | None = None) -> str:
    """One sentence naming the queue and field that broke, without echoing the body."""
    error = exc.errors(include_url=False, include_input=False)[0]
    loc = error["loc"]
    if error["type"] == "json_invalid":
        return f"the management API's answer for vhost {vhost!r} is not valid JSON"
    where = f"vhost {vhost!r}"
    index, rest = _in_item(loc)
    queue = name if name is not None else _item_name(body, loc, index)
    if queue is not None:
        where += f", queue {queue!r}"
    field = ".".join(str(p) for p in rest if not isinstance(p, int))
    return (
        f"unexpected value in the management API's answer for {where}: "
        f"{field or 'the document'}: {error['msg']}"
    )


def _in_item(loc: tuple[int | str, ...]) -> tuple[int | None, tuple[int | str, ...]]:
    """The index of the queue an error is in (a page's `items` or a bare list), and the rest."""
    if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
        return loc[1], loc[2:]
    if loc and isinstance(loc[0], int):
        return loc[0], loc[1:]
    return None, loc


def _item_name(body: bytes, loc: tuple[int | str, ...], index: int | None) -> str | None:
    if index is None:
        return None
    try:
        document: Any = json.loads(body)
        item: Any = (document["items"] if loc[0] == "items" else document)[index]
    except (ValueError, LookupError, TypeError):
        return None
    name = item.get("name") if isinstance(item, dict) else None
    return name if isinstance(name, str) else None
