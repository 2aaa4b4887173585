"""The management source on queue types and on a broker without statistics.

Answers are scripted through httpx's MockTransport in the shapes recorded from
the live 3.10.8 and 4.0.5 nodes (docs/testing.md, "What each version
exposes"); tests/integration/test_queue_types.py runs the same paths live.
"""

from __future__ import annotations

import httpx
import pytest

from qscaler.core.model import QueueStats
from qscaler.errors import SourceDataError
from qscaler.sources import VhostRequest
from tests.unit.test_management_source import Broker, Handler, answer, page, read

STATS_OFF = "Stats in management UI are disabled on this node"


def queue(name: str, kind: str, ready: int = 0) -> dict[str, object]:
    """One listing item with counts and a type."""
    return {
        "name": name,
        "type": kind,
        "messages_ready": ready,
        "messages_unacknowledged": 0,
        "consumers": 1,
    }


def with_streams(consumers: Handler) -> Handler:
    """A vhost holding a classic queue, a stream with a 600-message log and a
    queue of a type qscaler does not know; `consumers` answers the stream listing."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/stream/consumers/"):
            return consumers(request)
        items = [queue("jobs", "classic", 30), queue("events", "stream", 600)]
        return answer(200, page([*items, queue("odd", "x-delayed", 5)]))

    return handler


def lags(*values: int | None) -> Handler:
    """The stream plugin's listing: one consumer of "events" per lag."""
    listed = [{"queue": {"name": "events", "vhost": "v"}, "offset_lag": v} for v in values]
    return lambda _r: answer(200, listed)


def test_a_streams_backlog_is_its_slowest_consumers_lag_not_its_log() -> None:
    snapshot = read(Broker(with_streams(lags(12, 250))), VhostRequest("v", listing=True))
    assert snapshot.queues["events"] == QueueStats("events", 250, 0, 2)
    assert snapshot.queues["jobs"].messages_ready == 30
    assert "events" not in snapshot.backlog_unknown


@pytest.mark.parametrize(
    ("consumers", "why"),
    [
        (lags(), "no stream-protocol consumer"),
        (lags(None), "reports no offset_lag"),
        (lambda _r: answer(400, {"error": "bad_request", "reason": STATS_OFF}), STATS_OFF),
        (lambda _r: answer(404, {"error": "Object Not Found"}), "rabbitmq_stream_management"),
    ],
    ids=["no-consumer", "no-lag-field", "statistics-off", "plugin-off"],
)
def test_a_stream_without_a_readable_lag_is_backlog_unknown_never_its_log(
    consumers: Handler, why: str
) -> None:
    snapshot = read(Broker(with_streams(consumers)), VhostRequest("v", listing=True))
    assert "events" not in snapshot.queues
    assert why in snapshot.backlog_unknown["events"]
    assert snapshot.queues["jobs"].messages_ready == 30  # the rest of the vhost is read


def test_an_unknown_queue_type_is_backlog_unknown_not_a_count() -> None:
    snapshot = read(Broker(with_streams(lags(0))), VhostRequest("v", listing=True))
    assert "odd" not in snapshot.queues
    assert "'x-delayed' is not one qscaler reads" in snapshot.backlog_unknown["odd"]


def test_a_malformed_stream_listing_is_a_data_error() -> None:
    broken = lags(-1)
    with pytest.raises(SourceDataError, match="stream consumer listing"):
        read(Broker(with_streams(broken)), VhostRequest("v", listing=True))


def statistics_off(totals: bool) -> Handler:
    """A broker with management statistics off: listings have no counts, except the
    statistics-free listing of a broker that has it (3.8.10 and later)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("disable_stats") == "true":
            counts = {"messages_ready": 4, "messages_unacknowledged": 1} if totals else {}
            return answer(200, [{"name": n, "type": "classic", **counts} for n in "ab"])
        return answer(200, page([{"name": "a"}, {"name": "b"}]))

    return handler


def test_nothing_counted_at_all_says_statistics_may_be_off() -> None:
    broker = Broker(statistics_off(totals=False))
    with pytest.raises(SourceDataError, match="statistics are disabled"):
        read(broker, VhostRequest("v", listing=True))


def test_brand_new_queues_on_a_broker_with_statistics_are_not_read_statistics_free() -> None:
    """Their statistics-free count can be a stale 0: hold until the statistics come."""

    queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        queries.append(str(request.url.params))
        if request.url.path == "/api/overview":
            return answer(200, {"statistics_db_event_queue": 0})
        return statistics_off(totals=True)(request)

    broker = Broker(handler)
    with pytest.raises(SourceDataError, match="no message counts"):
        read(broker, VhostRequest("v", listing=True))
    assert "/api/overview" in broker.paths
    assert not [q for q in queries if "disable_stats" in q]


def test_statistics_off_reads_the_counts_from_the_statistics_free_listing() -> None:
    broker = Broker(statistics_off(totals=True))
    snapshot = read(broker, VhostRequest("v", listing=True))
    assert snapshot.queues["a"] == QueueStats("a", 4, 1, 0)  # no consumers, no rates
    assert snapshot.missing == frozenset()
