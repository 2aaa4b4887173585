"""The `/metrics/detailed` parser on a recorded 3.10.8 answer and on broken ones.

What a user would notice if this broke: a queue read with the wrong depth,
a rate made of the wrong counters, or a scale decision on an answer that was
not RabbitMQ's, was cut, or held NaN.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qscaler.errors import SourceDataError
from qscaler.sources.prometheus_text import (
    _SAMPLE,
    Counter,
    Exposition,
    _Builder,
    parse_exposition,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rabbitmq"
RECORDED = (FIXTURES / "3.10.8" / "prometheus-detailed.txt").read_text()
IDENTITY = 'rabbitmq_identity_info{rabbitmq_node="rabbit@a",rabbitmq_cluster="c"} 1\n'
BUILD = 'rabbitmq_build_info{rabbitmq_version="4.0.5",erlang_version="27"} 1\n'


def body(*lines: str) -> str:
    return BUILD + IDENTITY + "".join(line + "\n" for line in lines)


def test_recorded_310_answer_reads_depths_consumers_and_channel_counters() -> None:
    parsed = parse_exposition(RECORDED, "/", "node")
    assert parsed.node.startswith("qscaler-test-")
    assert parsed.version == "3.10.8"
    assert not parsed.queue_counters  # 3.10 has no per-queue counter families
    orders = parsed.gauges["orders"]
    assert (orders.ready, orders.unacked, orders.consumers) == (2, 3, 1)
    published = sum(
        v for (w, q, _), v in parsed.counters.items() if q == "orders" and w is Counter.PUBLISHED
    )
    finished = sum(
        v for (w, q, _), v in parsed.counters.items() if q == "orders" and w is Counter.FINISHED
    )
    assert published == 10  # ten published
    assert finished == 5  # four acked after basic.get, one basic.get with auto-ack
    assert parsed.unreadable_lines == 0


def test_recorded_answer_agrees_with_prometheus_client_parser() -> None:
    """The fast parser reads the same gauges as prometheus-client's parser."""
    reference: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(RECORDED):
        for sample in family.samples:
            if (
                sample.name.startswith("rabbitmq_detailed_queue_messages_")
                or sample.name == "rabbitmq_detailed_queue_consumers"
            ):
                reference[(sample.name, sample.labels["queue"])] = sample.value
    parsed = parse_exposition(RECORDED, "/", "node")
    for name, gauges in parsed.gauges.items():
        assert gauges.ready == reference[("rabbitmq_detailed_queue_messages_ready", name)]
        assert gauges.unacked == reference[("rabbitmq_detailed_queue_messages_unacked", name)]
        assert gauges.consumers == reference[("rabbitmq_detailed_queue_consumers", name)]


def test_per_queue_families_are_preferred_and_channel_ones_ignored() -> None:
    text = body(
        "# TYPE rabbitmq_detailed_queue_messages_acked_total counter",
        'rabbitmq_detailed_queue_messages_acked_total{vhost="v",queue="q"} 7',
        'rabbitmq_detailed_queue_exchange_messages_published_total{vhost="v",exchange="x",queue="q"} 9',
        'rabbitmq_detailed_channel_messages_acked_total{channel="<0.1.0>",vhost="v",queue="q"} 100',
    )
    parsed = parse_exposition(text, "v", "node")
    assert parsed.queue_counters
    assert sorted(parsed.counters.values()) == [7, 9]


def test_node_and_version_come_from_the_first_whole_line_that_names_them() -> None:
    """Written last, as a node writes them; a comment mentioning the metric or
    an identity line without a node name is not taken for the node's."""
    text = (
        'rabbitmq_detailed_queue_messages_ready{vhost="v",queue="q"} 1\n'
        '# HELP rabbitmq_identity_info{rabbitmq_node="not@this"} is not a sample\n'
        'rabbitmq_identity_info{rabbitmq_cluster="c"} 1\n'
        'rabbitmq_build_info{erlang_version="27",rabbitmq_version="3.10.8"} 1\n'
        'rabbitmq_identity_info{rabbitmq_cluster="c",rabbitmq_node="rabbit@b"} 1\n'
    )
    parsed = parse_exposition(text, "v", "node")
    assert (parsed.node, parsed.version) == ("rabbit@b", "3.10.8")
    without_version = parse_exposition(text.replace("rabbitmq_build_info", "other"), "v", "n")
    assert without_version.version == ""


def test_other_vhosts_are_ignored() -> None:
    text = body(
        'rabbitmq_detailed_queue_messages_ready{vhost="other",queue="q"} 5',
        'rabbitmq_detailed_queue_messages_ready{vhost="v",queue="q"} 1',
    )
    assert parse_exposition(text, "v", "node").gauges["q"].ready == 1


def test_escaped_names_are_unescaped() -> None:
    text = body(r'rabbitmq_detailed_queue_messages_ready{vhost="v",queue="a\"b\\c\nd"} 4')
    assert parse_exposition(text, "v", "node").gauges['a"b\\c\nd'].ready == 4


@pytest.mark.parametrize(
    "raw", [r"a\qb", 'a"b', 'a",queue="b'], ids=["backslash", "quote", "label-lookalike"]
)
def test_unescaped_names_from_310_are_counted_as_unreadable_not_guessed(raw: str) -> None:
    text = body(f'rabbitmq_detailed_queue_messages_ready{{vhost="v",queue="{raw}"}} 4')
    parsed = parse_exposition(text, "v", "node")
    assert parsed.unreadable_lines == 1
    assert parsed.gauges == {}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param(
            "node_cpu_seconds_total 1\n", "not a RabbitMQ Prometheus endpoint", id="not-rabbitmq"
        ),
        pytest.param("<html>hello</html>\n", "not a RabbitMQ", id="html"),
        pytest.param(
            body('rabbitmq_detailed_queue_messages_ready{vhost="v",queue="q"} NaN'),
            "not a count",
            id="nan",
        ),
        pytest.param(
            body('rabbitmq_detailed_queue_messages_ready{vhost="v",queue="q"} \u00b2'),
            "not a count",
            id="superscript-digit",
        ),
        pytest.param(
            body('rabbitmq_detailed_queue_messages_ready{vhost="v",queue="q"} +Inf'),
            "not a count",
            id="inf",
        ),
        pytest.param(
            body('rabbitmq_detailed_queue_messages_ready{vhost="v",queue="q"} -1'),
            "not a count",
            id="negative",
        ),
        pytest.param(
            body('rabbitmq_detailed_queue_messages_ready{vhost="v",queue="q"} 1.5'),
            "whole number",
            id="fraction",
        ),
        pytest.param(
            body('rabbitmq_detailed_queue_messages_ready{vhost="v",queue="q"} 12abc'),
            "not a count",
            id="garbled-value",
        ),
        pytest.param(
            body('rabbitmq_detailed_queue_messages_ready{vhost="v",queue="q"}'),
            "garbled",
            id="truncated-line",
        ),
        pytest.param(
            body(
                'rabbitmq_detailed_queue_consumers{vhost="v",queue="q"} 1',
                'rabbitmq_detailed_queue_consumers{vhost="v",queue="q"} 2',
            ),
            "appears twice",
            id="duplicate-series",
        ),
        pytest.param(
            body(
                'rabbitmq_detailed_queue_messages_published_total{channel="<0.1.0>",queue_vhost="v",queue="q",exchange_vhost="v",exchange=""} 1',
                'rabbitmq_detailed_queue_messages_published_total{channel="<0.1.0>",queue_vhost="v",queue="q",exchange_vhost="v",exchange=""} 2',
            ),
            "appears twice",
            id="duplicate-counter",
        ),
    ],
)
def test_untrustworthy_answers_fail_with_one_clear_line(text: str, words: str) -> None:
    with pytest.raises(SourceDataError, match=words) as caught:
        parse_exposition(text, "v", "http://rabbit-0:15692/metrics/detailed")
    message = str(caught.value)
    assert "\n" not in message
    assert "rabbit-0" in message or "not a RabbitMQ" not in words


RECORDED_405 = (FIXTURES / "4.0.5" / "prometheus-detailed.txt").read_text()


def test_recorded_405_answer_reads_per_queue_counters_and_escaped_names() -> None:
    parsed = parse_exposition(RECORDED_405, "/", "node")
    assert parsed.version == "4.0.5"
    assert parsed.queue_counters  # queue_delivery_metrics and queue_exchange_metrics exist
    orders = parsed.gauges["orders"]
    assert (orders.ready, orders.unacked, orders.consumers) == (2, 3, 1)
    assert parsed.gauges['we"ird\\name'].ready == 0  # 4.x escapes '"' and '\'
    counted = {
        what: sum(v for (w, q, _), v in parsed.counters.items() if q == "orders" and w == what)
        for what in (Counter.PUBLISHED, Counter.FINISHED)
    }
    # per queue, not per channel: 10 published, 4 acked + 1 fetched with auto-ack
    assert counted == {Counter.PUBLISHED: 10, Counter.FINISHED: 5}
    assert all("<0." not in series for (_, _, series) in parsed.counters)


def _both_paths(text: str, vhost: str) -> tuple[Exposition, Exposition]:
    """The answer read by the fast path (asserted taken) and by the careful one."""
    fast = parse_exposition(text, vhost, "node")
    careful = _Builder(vhost, "node", fast.queue_counters)
    assert careful.add_plain("\n" + text, careful_lines(text)), "the fast path was not taken"
    careful = _Builder(vhost, "node", fast.queue_counters)
    for match in _SAMPLE.finditer(text):
        careful.add(match.group(1), match.group(2), match.group(3))
    return fast, replace(fast, gauges=careful.queue_gauges(), counters=careful.counters)


def careful_lines(text: str) -> int:
    return sum(1 for _ in _SAMPLE.finditer(text))


@pytest.mark.parametrize(
    ("text", "vhost"),
    [
        pytest.param(RECORDED, "/", id="3.10.8"),
        pytest.param(
            "".join(line for line in RECORDED.splitlines(True) if "_total{" not in line),
            "/",
            id="3.10.8-gauges-only",  # no channel has used a queue since the node started
        ),
        pytest.param(
            "".join(
                line
                for line in RECORDED_405.splitlines(True)
                if "channel" not in line and "\\" not in line  # escaped: careful path
            ),
            "/",
            id="4.0.5-per-queue-families-only",
        ),
    ],
)
def test_fast_and_careful_paths_read_the_same_gauges_counters_and_order(
    text: str, vhost: str
) -> None:
    """Counters are keyed alike on both paths (a node's answer may take either
    from one poll to the next, and rates come from the difference), gauges
    list the queues in the same order."""
    fast, careful = _both_paths(text, vhost)
    assert fast.gauges
    assert list(fast.gauges.items()) == list(careful.gauges.items())
    assert list(fast.counters.items()) == list(careful.counters.items())
