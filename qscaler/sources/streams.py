"""A stream's backlog is how far its consumers trail its end, not its length.

A stream keeps its log whether or not it was read: the management API reports
the retained log as `messages_ready` (and 0 unacknowledged) whatever the
consumers do, so reading that as a backlog would keep a caught-up consumer
scaled up forever. What a stream consumer has yet to read is its *offset
lag*: the stream's last offset minus the offset the consumer has reached.

Where it is exposed, on both 3.10 and 4.0: the stream management plugin
(`rabbitmq_stream_management`) lists every stream-protocol consumer of a vhost
at `GET /api/stream/consumers/{vhost}`, each with `queue.name` and
`offset_lag`. The offset there is the one the broker has delivered up to,
which runs ahead of the consumer's stored (committed) offset by at most what
its credit lets the broker send ahead.

A stream's backlog is the largest lag among its consumers: the slowest reader
is the one more replicas would help. It cannot be read, and the stream gets a
reason instead of a number, when nothing reports a lag: no stream-protocol
consumer is subscribed (AMQP consumers of a stream report no lag, and a
workload at zero replicas has none), the plugin is not enabled (404), or the
management statistics are off (the listing answers 400).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, NotRequired
from urllib.parse import quote

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from qscaler.core.model import QueueStats
from qscaler.errors import SourceDataError

#: The stream management plugin's consumer listing of one vhost.
CONSUMERS_PATH = "/api/stream/consumers/{vhost}"
#: GET path, vhost, query -> the body of a 200, None for a 404 (else it raises).
Get = Callable[[str, str, Mapping[str, str]], bytes | None]

_STRICT = ConfigDict(strict=True, extra="ignore")
_Lag = Annotated[int, Field(ge=0, le=2**63)]


@with_config(_STRICT)
class _Stream(TypedDict):
    name: str


@with_config(_STRICT)
class _Consumer(TypedDict):
    queue: _Stream
    offset_lag: NotRequired[_Lag | None]


_CONSUMERS = TypeAdapter(list[_Consumer])


def read_stream_lags(get: Get, vhost: str) -> tuple[dict[str, list[int | None]] | None, str]:
    """The stream consumers' lags of `vhost`, or None and why: a refusal is for
    the streams to report (BacklogUnknown), not a failed read of the vhost."""
    try:
        body = get(CONSUMERS_PATH.format(vhost=quote(vhost, safe="")), vhost, {})
    except SourceDataError as exc:  # 400 when management statistics are off
        return None, str(exc)
    if body is None:
        return None, "the stream management plugin (rabbitmq_stream_management) is not enabled"
    return parse_consumers(body, vhost), ""


def parse_consumers(body: bytes, vhost: str) -> dict[str, list[int | None]]:
    """Each stream's consumers' offset lags (None: a consumer reported none)."""
    try:
        consumers = _CONSUMERS.validate_json(body)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        raise SourceDataError(
            f"unexpected stream consumer listing for vhost {vhost!r}: {where}: {error['msg']}"
        ) from None
    lags: dict[str, list[int | None]] = {}
    for consumer in consumers:
        lags.setdefault(consumer["queue"]["name"], []).append(consumer.get("offset_lag"))
    return lags


def stream_backlogs(
    streams: frozenset[str], lags: Mapping[str, list[int | None]] | None, why_not: str
) -> tuple[dict[str, QueueStats], dict[str, str]]:
    """The streams whose backlog is known, as `QueueStats` (ready = the largest
    consumer lag), and the others with why. `lags` None: the listing could
    not be read, for the reason `why_not`."""
    known: dict[str, QueueStats] = {}
    unknown: dict[str, str] = {}
    for stream in sorted(streams):
        found = None if lags is None else lags.get(stream)
        if lags is None:
            unknown[stream] = f"a stream, and its consumers' offset lag cannot be read: {why_not}"
        elif not found:
            unknown[stream] = (
                "a stream with no stream-protocol consumer, so no offset lag to read (its "
                "message count is the retained log, not a backlog)"
            )
        elif any(lag is None for lag in found):
            unknown[stream] = "a stream whose consumer listing reports no offset_lag"
        else:
            largest = max(lag for lag in found if lag is not None)
            known[stream] = QueueStats(stream, largest, 0, len(found))
    return known, unknown
