"""The management API parser on recorded (3.10.8) and documented (4.x) answers.

What a user would notice if this broke: a queue read as empty when the broker
did not say so, a scale decision on a number the broker never sent, or an
error message that does not say which queue and field were wrong.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from qscaler.errors import SourceDataError
from qscaler.sources.management_json import MAX_COUNT, parse_listing, parse_page, parse_queue

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rabbitmq"


def body(version: str, name: str) -> bytes:
    """The recorded body of one fixture, as the broker's bytes."""
    document = json.loads((FIXTURES / version / name).read_text())
    return json.dumps(document["body"], ensure_ascii=False).encode()


def page_with(item: dict[str, Any]) -> bytes:
    """A one-item page around `item`."""
    document = {
        "items": [item],
        "page": 1,
        "page_count": 1,
        "page_size": 500,
        "total_count": 1,
        "filtered_count": 1,
        "item_count": 1,
    }
    return json.dumps(document).encode()


GOOD_ITEM: dict[str, Any] = {
    "name": "q",
    "messages_ready": 1,
    "messages_unacknowledged": 2,
    "consumers": 3,
    "message_stats": {"publish_details": {"rate": 1.5}, "ack_details": {"rate": 2.5}},
}


# --- recorded from 3.10.8 ---------------------------------------------------------


def test_recorded_page_counts_and_rates() -> None:
    page = parse_page(body("3.10.8", "queues-page.json"), "recorded")
    orders = page.queues.counted["orders"]
    assert (orders.messages_ready, orders.messages_unacknowledged, orders.consumers) == (77, 3, 1)
    assert (orders.publish_rate, orders.ack_rate) == (180.0, 120.0)
    assert (page.number, page.page_count, page.total) == (1, 1, 5)


def test_recorded_auto_ack_gets_count_as_acks() -> None:
    autoack = parse_page(body("3.10.8", "queues-page.json"), "recorded").queues.counted["autoack"]
    assert autoack.ack_rate == 8.0  # ack 0 + deliver_no_ack 0 + get_no_ack 8


def test_recorded_idle_queue_has_no_rates() -> None:
    idle = parse_page(body("3.10.8", "queues-page.json"), "recorded").queues.counted["idle"]
    assert (idle.messages_ready, idle.publish_rate, idle.ack_rate) == (0, None, None)


def test_recorded_unicode_name_round_trips() -> None:
    counted = parse_page(body("3.10.8", "queues-page.json"), "recorded").queues.counted
    assert counted["x/y z%#?é✓"].messages_ready == 7


def test_recorded_queue_not_yet_counted_is_uncounted_not_empty() -> None:
    parsed = parse_page(body("3.10.8", "queues-page.json"), "recorded").queues
    assert "zz-new" not in parsed.counted
    assert parsed.uncounted == {"zz-new"}


def test_recorded_unpaged_listing_the_default_request() -> None:
    """`GET /api/queues/{vhost}?columns=…&sort=`: a bare list, in no order."""
    parsed = parse_listing(body("3.10.8", "queues-listing.json"), "recorded")
    assert set(parsed.counted) == {"autoack", "x/y z%#?é✓", "idle", "orders"}
    assert parsed.uncounted == {"zz-new"}
    orders = parsed.counted["orders"]
    assert (orders.messages_ready, orders.messages_unacknowledged, orders.consumers) == (89, 4, 1)
    assert (orders.publish_rate, orders.ack_rate) == (180.0, 135.0)
    assert parsed.counted["autoack"].ack_rate == 9.0  # get_no_ack
    assert parsed.counted["idle"].publish_rate is None


def test_recorded_disable_stats_counts_nothing() -> None:
    parsed = parse_page(body("3.10.8", "queues-page-disable-stats.json"), "recorded").queues
    assert parsed.counted == {}
    assert parsed.uncounted == {"autoack", "idle", "orders", "x/y z%#?é✓", "zz-new"}


def test_recorded_single_queue() -> None:
    parsed = parse_queue(body("3.10.8", "queue-orders.json"), "recorded", "orders")
    assert parsed.counted["orders"].messages_unacknowledged == 3


def test_single_queue_answer_about_another_queue_is_refused() -> None:
    with pytest.raises(SourceDataError, match="'orders' when asked for 'other'"):
        parse_queue(body("3.10.8", "queue-orders.json"), "recorded", "other")


def test_a_list_where_one_queue_was_expected_is_refused() -> None:
    # What GET /api/queues/%2F/.. returns once the path is normalised.
    with pytest.raises(SourceDataError, match=re.escape("vhost '/', queue '..'")):
        parse_queue(b'[{"name": "a"}]', "/", "..")


# --- constructed for 3.13+/4.x (see tests/fixtures/rabbitmq/README.md) ---------------


def test_4x_page_with_columns() -> None:
    parsed = parse_page(body("4.x", "queues-page.json"), "/").queues
    quorum = parsed.counted["orders.quorum"]
    assert (quorum.messages_ready, quorum.messages_unacknowledged, quorum.consumers) == (
        1250,
        30,
        3,
    )
    assert quorum.ack_rate == 41.6
    assert parsed.counted["telemetry.autoack"].ack_rate == 13.0  # no ack_details at all
    assert parsed.counted["unused"].publish_rate is None
    assert parsed.uncounted == {"zz.just-declared"}


def test_4x_reduced_field_set_reads_counts_without_rates() -> None:
    counted = parse_page(body("4.x", "queues-page-reduced.json"), "/").queues.counted
    assert (counted["orders"].messages_ready, counted["orders"].messages_unacknowledged) == (12, 5)
    assert counted["payments"].consumers == 0
    assert all(q.publish_rate is None and q.ack_rate is None for q in counted.values())


# --- what the parser refuses -----------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"messages_ready": -1}, "messages_ready", id="negative-count"),
        pytest.param({"messages_ready": 1.5}, "messages_ready", id="fractional-count"),
        pytest.param({"messages_ready": "5"}, "messages_ready", id="string-count"),
        pytest.param({"consumers": True}, "consumers", id="boolean-count"),
        pytest.param({"messages_unacknowledged": 2**60}, "messages_unacknowledged", id="huge"),
        pytest.param({"messages_ready": [1]}, "messages_ready", id="list-count"),
        pytest.param(
            {"message_stats": {"ack_details": {"rate": "fast"}}},
            "message_stats.ack_details.rate",
            id="string-rate",
        ),
        pytest.param({"message_stats": [1, 2]}, "message_stats", id="stats-not-an-object"),
    ],
)
def test_untrustworthy_values_refuse_the_response(change: dict[str, Any], field: str) -> None:
    with pytest.raises(SourceDataError) as caught:
        parse_page(page_with({**GOOD_ITEM, **change}), "v")
    message = str(caught.value)
    assert "vhost 'v', queue 'q'" in message
    assert field in message


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_rates_refuse_the_response(literal: str) -> None:
    raw = page_with(GOOD_ITEM).replace(b'"rate": 1.5', f'"rate": {literal}'.encode())
    with pytest.raises(SourceDataError, match=r"publish_details\.rate"):
        parse_page(raw, "v")


def test_non_finite_count_refuses_the_response() -> None:
    raw = page_with(GOOD_ITEM).replace(b'"messages_ready": 1', b'"messages_ready": NaN')
    with pytest.raises(SourceDataError, match="messages_ready"):
        parse_page(raw, "v")


def test_largest_exact_count_is_accepted() -> None:
    parsed = parse_page(page_with({**GOOD_ITEM, "messages_ready": MAX_COUNT}), "v").queues
    assert parsed.counted["q"].messages_ready == MAX_COUNT


def test_negative_rate_reads_as_unknown() -> None:
    stats = {"publish_details": {"rate": -3.0}, "ack_details": {"rate": -1.0}}
    counted = parse_page(page_with({**GOOD_ITEM, "message_stats": stats}), "v").queues.counted
    assert (counted["q"].publish_rate, counted["q"].ack_rate) == (None, None)


@pytest.mark.parametrize("field", ["messages_ready", "messages_unacknowledged", "consumers"])
def test_null_or_absent_count_is_uncounted(field: str) -> None:
    for item in ({**GOOD_ITEM, field: None}, {k: v for k, v in GOOD_ITEM.items() if k != field}):
        parsed = parse_page(page_with(item), "v").queues
        assert parsed.counted == {}
        assert parsed.uncounted == {"q"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(b"<html>proxy error</html>", "not valid JSON", id="html"),
        pytest.param(b"", "not valid JSON", id="empty"),
        pytest.param(b"[]", "the document", id="list-not-page"),
        pytest.param(b'{"items": "x", "page": 1}', "items", id="items-not-list"),
        pytest.param(
            b'{"items": [], "page": 0, "page_count": 0, "page_size": 500, "total_count": 0}',
            "page",
            id="page-zero",
        ),
    ],
)
def test_malformed_pages_are_data_errors(raw: bytes, expected: str) -> None:
    with pytest.raises(SourceDataError, match=expected):
        parse_page(raw, "v")


def test_item_without_name_is_a_data_error() -> None:
    with pytest.raises(SourceDataError, match="name"):
        parse_page(page_with({k: v for k, v in GOOD_ITEM.items() if k != "name"}), "v")
