"""rabbitmq_prometheus's `/metrics/detailed` answer, parsed defensively and fast.

The Prometheus source reads one exposition per node and vhost every poll; at
20,000 queues that is hundreds of thousands of lines, so this does not build a
metric-family object per line the way prometheus-client's parser does. It
finds the few metrics qscaler reads with one regular expression over the whole
body (the scan runs in C), and parses only their label sets. What it reads:

=================================================  ==========================
metric (family)                                     becomes
=================================================  ==========================
`rabbitmq_detailed_queue_messages_ready`            ready messages
`rabbitmq_detailed_queue_messages_unacked`          unacknowledged messages
(`queue_coarse_metrics`)
`rabbitmq_detailed_queue_consumers`                 consumers
(`queue_consumer_count`)
`rabbitmq_detailed_queue_exchange_messages_`        published (per queue and
`published_total` (`queue_exchange_metrics`)        exchange; 4.0.5, not 3.10.8)
`rabbitmq_detailed_queue_messages_acked_total`,     finished: manual acks,
`…_queue_messages_delivered_total`,                 automatic-ack deliveries and
`…_queue_get_total` (`queue_delivery_metrics`)      automatic-ack gets
`rabbitmq_detailed_queue_messages_published_total`  published, per channel: for
(`channel_queue_exchange_metrics`)                  brokers without the
`rabbitmq_detailed_channel_messages_acked_total`,   per-queue families (3.10)
`…_channel_messages_delivered_total`,
`…_channel_get_total` (`channel_queue_metrics`)
=================================================  ==========================

Rules, so that a number qscaler cannot trust is never one it acts on:

* The body must come from RabbitMQ: it carries `rabbitmq_identity_info`
  (which names the node). Anything else (another exporter's `/metrics`) is a
  `SourceDataError`.
* Every line of a metric qscaler reads must parse, values must be finite and
  counts whole and non-negative; the same series twice is an error. Any of
  these fails the node's answer (`SourceDataError`), never just a queue:
  dropping one queue would let a `re:` binding sum too small a backlog.
* Label values are read as the text format escapes them (`\\"`, `\\\\`,
  `\\n`). RabbitMQ 3.10 does not escape them, so there a queue name holding
  `"` or `\\` is unreadable; such a line counts in `unreadable_lines` rather
  than failing the node, and the source then treats the node's queue list as
  incomplete (docs/reliability.md).

Counters are returned raw, keyed by their series (channel, exchange): turning
them into rates is `qscaler.sources.counters`' job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qscaler.errors import SourceDataError

_P = "rabbitmq_detailed_"


class Counter:
    """What a counter counts, as rates need it (plain strings: hashed per sample)."""

    PUBLISHED = "published"
    FINISHED = "finished"  # acked, or delivered/fetched without acks


#: Gauges: metric name → field.
GAUGES: Mapping[str, str] = {
    f"{_P}queue_messages_ready": "ready",
    f"{_P}queue_messages_unacked": "unacked",
    f"{_P}queue_consumers": "consumers",
}
#: Per-queue counters (queue_exchange_metrics, queue_delivery_metrics).
QUEUE_COUNTERS: Mapping[str, str] = {
    f"{_P}queue_exchange_messages_published_total": Counter.PUBLISHED,
    f"{_P}queue_messages_acked_total": Counter.FINISHED,
    f"{_P}queue_messages_delivered_total": Counter.FINISHED,
    f"{_P}queue_get_total": Counter.FINISHED,
}
#: Per-channel counters (channel_queue_exchange_metrics, channel_queue_metrics).
CHANNEL_COUNTERS: Mapping[str, str] = {
    f"{_P}queue_messages_published_total": Counter.PUBLISHED,
    f"{_P}channel_messages_acked_total": Counter.FINISHED,
    f"{_P}channel_messages_delivered_total": Counter.FINISHED,
    f"{_P}channel_get_total": Counter.FINISHED,
}
#: The families that carry them, as `family=` parameters.
BASE_FAMILIES = ("queue_coarse_metrics", "queue_consumer_count")
QUEUE_COUNTER_FAMILIES = ("queue_exchange_metrics", "queue_delivery_metrics")
CHANNEL_COUNTER_FAMILIES = ("channel_queue_exchange_metrics", "channel_queue_metrics")
#: A TYPE line that says the broker has the per-queue counter families.
QUEUE_FAMILIES_MARKER = f"# TYPE {_P}queue_messages_acked_total "

_READ = {**GAUGES, **QUEUE_COUNTERS, **CHANNEL_COUNTERS}
_SAMPLE = re.compile(
    r"^(" + "|".join(re.escape(n) for n in sorted(_READ, key=len, reverse=True)) + r")"
    r"\{([^\n]*)\} ([^ \n]+)(?: [0-9-]+)?$",
    re.MULTILINE,
)
_STARTS = tuple(f"\n{name}{{" for name in _READ)
#: Where a node names itself and its version: a line's start, and the label read.
#: A node writes these lines last, so they are found with `str.find` (see `_first`).
_IDENTITY = "\nrabbitmq_identity_info{", re.compile(r'[^\n]*rabbitmq_node="([^"\n]*)"')
_VERSION = "\nrabbitmq_build_info{", re.compile(r'[^\n]*rabbitmq_version="([^"\n]*)"')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
_ESCAPES = re.compile(r'\\[\\"n]')
#: The largest count accepted: a float's exact-integer limit (2**53).
MAX_COUNT = 2**53


#: A counter's key: (what it counts, queue, metric|series id).
Series = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class QueueGauges:
    """One queue's gauges on one node; None where the node did not report one."""

    ready: int | None = None
    unacked: int | None = None
    consumers: int | None = None


@dataclass(frozen=True, slots=True)
class Exposition:
    """What one node said about one vhost."""

    node: str
    version: str
    gauges: Mapping[str, QueueGauges]
    #: (what, queue, series) → value; series names the channel and/or exchange.
    counters: Mapping[tuple[str, str, str], float]
    #: The broker has per-queue counter families (4.0.5 does): channel ones are ignored.
    queue_counters: bool
    #: Sample lines of a read metric whose labels could not be parsed.
    unreadable_lines: int = 0


def parse_exposition(text: str, vhost: str, where: str) -> Exposition:
    """Parse one `/metrics/detailed` body; `SourceDataError` naming `where` when
    it is not something to act on (module docstring)."""
    body = "\n" + text  # every line, the first too, starts after a newline
    node = _first(body, *_IDENTITY)
    if node is None:
        raise SourceDataError(
            f"{where} is not a RabbitMQ Prometheus endpoint (no rabbitmq_identity_info): "
            "point the URL at the rabbitmq_prometheus port (15692 by default)"
        )
    queue_counters = QUEUE_FAMILIES_MARKER in text
    expected = sum(body.count(start) for start in _STARTS)
    builder = _Builder(vhost, where, queue_counters)
    if not builder.add_plain(body, expected):  # some line needs the careful path
        builder = _Builder(vhost, where, queue_counters)
        for match in _SAMPLE.finditer(text):
            builder.add(match.group(1), match.group(2), match.group(3))
    if expected != builder.lines:
        raise SourceDataError(
            f"{where} answered {expected - builder.lines} garbled sample line(s) of a metric "
            "qscaler reads; not trusting this answer"
        )
    return Exposition(
        node=node,
        version=_first(body, *_VERSION) or "",
        gauges=builder.queue_gauges(),
        counters=builder.counters,
        queue_counters=queue_counters,
        unreadable_lines=builder.unreadable,
    )


def _first(body: str, head: str, rest: re.Pattern[str]) -> str | None:
    """The label `rest` reads from the first line starting with `head` where it
    matches, or None. Why not one `^`-anchored pattern: an anchor defeats the
    regular expression engine's literal search, so at 20,000 queues it tries
    every line (about 100 ms a line kind); `str.find` skips to the few lines
    that start with `head`."""
    start = body.find(head)
    while start >= 0:
        match = rest.match(body, start + len(head))
        if match is not None:
            return match.group(1)
        start = body.find(head, start + 1)
    return None


class _Builder:
    """Accumulates one body's samples, checking each."""

    def __init__(self, vhost: str, where: str, queue_counters: bool) -> None:
        self.vhost, self.where = vhost, where
        self.counter_names = QUEUE_COUNTERS if queue_counters else CHANNEL_COUNTERS
        self.gauges: dict[str, dict[str, int]] = {}
        self.plain_gauges: dict[str, QueueGauges] | None = None  # the fast path's
        self.counters: dict[tuple[str, str, str], float] = {}
        self.lines = 0
        self.unreadable = 0

    def add_plain(self, body: str, expected: int) -> bool:
        """Read every sample of `body` (the answer with a newline in front) with
        the label layout RabbitMQ writes, no escaping in the names and whole
        counts (the common case, matched and converted in C, a list at a time);
        False, with nothing kept, when some line is not like that, or a series
        appears twice: the careful path then reads it, or says what is wrong."""
        patterns = _plain_patterns(self.vhost, self.counter_names is QUEUE_COUNTERS)
        found = {shape: pattern.findall(body) for shape, pattern in patterns.items()}
        if sum(len(matches) for matches in found.values()) != expected:
            return False
        gauges = _plain_gauges(found.pop("gauge"))
        counters = _plain_counters(found)
        if gauges is None or counters is None:
            return False
        self.lines, self.plain_gauges, self.counters = expected, gauges, counters
        return True

    def queue_gauges(self) -> dict[str, QueueGauges]:
        """Each queue's gauges, in the order the answer first names the queues."""
        if self.plain_gauges is not None:
            return self.plain_gauges
        return {name: QueueGauges(**values) for name, values in self.gauges.items()}

    def add(self, name: str, label_text: str, value_text: str) -> None:
        self.lines += 1
        labels = _labels(label_text)
        if labels is None:
            self.unreadable += 1
            return
        value = self._value(name, value_text, labels.get("queue", "?"))
        queue = labels.get("queue")
        if queue is None or labels.get("vhost", labels.get("queue_vhost")) != self.vhost:
            return
        field_name = GAUGES.get(name)
        if field_name is not None:
            self._gauge(field_name, name, queue, value)
            return
        if name not in self.counter_names:
            return
        channel, exchange = labels.get("channel", ""), labels.get("exchange", "")
        series_id = f"{channel}|{exchange}" if channel else exchange
        self._counter(name, queue, series_id, value)

    def _counter(self, name: str, queue: str, series_id: str, value: float) -> None:
        what = self.counter_names.get(name)
        if what is None:
            return
        series = (what, queue, f"{name}|{series_id}")
        if series in self.counters:
            raise self._error(f"the series {name} of queue {queue!r} appears twice")
        self.counters[series] = value

    def _gauge(self, field_name: str, name: str, queue: str, value: float) -> None:
        values = self.gauges.get(queue)
        if values is None:
            values = self.gauges[queue] = {}
        if field_name in values:
            raise self._error(f"the series {name} of queue {queue!r} appears twice")
        if value != int(value):
            raise self._error(f"{name} of queue {queue!r} is {value!r}, not a whole number")
        values[field_name] = int(value)

    def _value(self, name: str, text: str, queue: str) -> float:
        if text.isascii() and text.isdigit() and len(text) < 16:
            return int(text)  # the common case: a whole count
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not 0 <= value <= MAX_COUNT:
            raise self._error(f"{name} of queue {queue!r} is {text!r}: not a count")
        return value

    def _error(self, detail: str) -> SourceDataError:
        return SourceDataError(f"{self.where}, vhost {self.vhost!r}: {detail}")


_NAME = r'([^"\\\n]*)'
_VALUE = r"([^ \n]+)"
#: shape → the start of its lines (after the newline before them).
_PLAIN_SHAPES = {
    "gauge": f"{_P}queue_(messages_ready|messages_unacked|consumers)",
    "queue": f"{_P}(queue_messages_acked_total|queue_messages_delivered_total|queue_get_total)",
    "queue_published": f"{_P}queue_exchange_messages_published_total",
    "channel": (
        f"{_P}(channel_messages_acked_total|channel_messages_delivered_total|channel_get_total)"
    ),
    "channel_published": f"{_P}queue_messages_published_total",
}
_PLAIN_CACHE: dict[tuple[str, bool], dict[str, re.Pattern[str]]] = {}
#: The gauge shape's metric (after `…_queue_`) → its field.
_GAUGE_FIELDS = {name.removeprefix(f"{_P}queue_"): field for name, field in GAUGES.items()}


def _plain_gauges(matches: list[tuple[str, str, str]]) -> dict[str, QueueGauges] | None:
    """The fast path's gauges from (metric, queue, value) matches; None when a
    value is not a plain count or a series appears twice."""
    if not matches:
        return {}
    names, queues, texts = zip(*matches, strict=True)
    values = _plain_counts(texts)
    if values is None:
        return None
    columns: dict[str, dict[str, int]] = {"ready": {}, "unacked": {}, "consumers": {}}
    by_name = {name: columns[field] for name, field in _GAUGE_FIELDS.items()}
    for name, queue, value in zip(names, queues, values, strict=True):
        by_name[name][queue] = value
    if sum(map(len, columns.values())) != len(matches):
        return None
    ready, unacked, consumers = columns["ready"], columns["unacked"], columns["consumers"]
    return {
        queue: QueueGauges(ready.get(queue), unacked.get(queue), consumers.get(queue))
        for queue in dict.fromkeys(queues)
    }


def _plain_counters(found: dict[str, list[tuple[str, ...]]]) -> dict[Series, float] | None:
    """The fast path's counters, keyed as `_Builder._counter` keys them; None
    when a value is not a plain count or a series appears twice."""
    counters: dict[Series, float] = {}
    for shape, matches in found.items():
        values = _plain_counts([match[-1] for match in matches])
        if values is None:
            return None
        counters.update(zip(_series(shape, matches), values, strict=True))
    if len(counters) != sum(map(len, found.values())):
        return None
    return counters


def _plain_counts(texts: Sequence[str]) -> list[int] | None:
    """The values as ints when every one is a plain count (ASCII digits, under
    16 of them: what `_Builder._value` reads as a whole count), else None.
    Checked and converted in C: one join, one `isdigit`, one `map`."""
    if not texts:
        return []  # "".isdigit() is False: no lines is not an odd line
    joined = "".join(texts)
    if not (joined.isascii() and joined.isdigit()) or max(map(len, texts)) > 15:
        return None
    return list(map(int, texts))


def _series(shape: str, matches: list[tuple[str, ...]]) -> list[Series]:
    """(what, queue, metric|series id) of each fast-path counter match: the key
    `_Builder.add` makes for the same line, so that the two paths' counters
    continue each other from one poll to the next."""
    f, p = Counter.FINISHED, Counter.PUBLISHED
    if shape == "queue":
        return [(f, q, f"{_P}{n}|") for n, q, _ in matches]
    if shape == "queue_published":
        return [(p, q, f"{_P}queue_exchange_messages_published_total|{e}") for e, q, _ in matches]
    if shape == "channel":
        return [(f, q, f"{_P}{n}|{c}|") for n, c, q, _ in matches]
    return [(p, q, f"{_P}queue_messages_published_total|{c}|{e}") for c, q, e, _ in matches]


def _plain_patterns(vhost: str, queue_counters: bool) -> dict[str, re.Pattern[str]]:
    """The fast patterns for one vhost: gauges and one kind of counters."""
    key = (vhost, queue_counters)
    cached = _PLAIN_CACHE.get(key)
    if cached is not None:
        return cached
    v = re.escape(vhost)
    labels = {
        "gauge": f'vhost="{v}",queue="{_NAME}"',
        "queue": f'vhost="{v}",queue="{_NAME}"',
        "queue_published": f'vhost="{v}",exchange="{_NAME}",queue="{_NAME}"',
        "channel": f'channel="{_NAME}",vhost="{v}",queue="{_NAME}"',
        "channel_published": (
            f'channel="{_NAME}",queue_vhost="{v}",queue="{_NAME}",exchange_vhost="{v}",'
            f'exchange="{_NAME}"'
        ),
    }
    wanted = (
        {"gauge", "queue", "queue_published"}
        if queue_counters
        else {"gauge", "channel", "channel_published"}
    )
    patterns = {
        shape: re.compile(f"\\n{head}\\{{{labels[shape]}\\}} {_VALUE}(?=\\n|$)")
        for shape, head in _PLAIN_SHAPES.items()
        if shape in wanted
    }
    if len(_PLAIN_CACHE) > 1000:
        _PLAIN_CACHE.clear()
    _PLAIN_CACHE[key] = patterns
    return patterns


def _labels(text: str) -> dict[str, str] | None:
    """The label set, or None when it does not parse as the text format says."""
    pairs = text.count('="')
    if "\\" not in text and text.endswith('"') and text.count('"') == 2 * pairs:
        parts = (part.partition('="') for part in text[:-1].split('",'))
        fast = {key: value for key, _, value in parts}
        if len(fast) == pairs:
            return fast
    labels: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _LABEL.match(text, position)
        if match is None or match.group(1) in labels:
            return None
        labels[match.group(1)] = _ESCAPES.sub(_unescape, match.group(2))
        position = match.end()
    return labels


def _unescape(match: re.Match[str]) -> str:
    return _UNESCAPE.get(match.group(0), match.group(0))
