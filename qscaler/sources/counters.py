"""From RabbitMQ's counters to "how many since the last poll", per queue.

The Prometheus plugin reports counters, not rates. A queue's counters are
spread over series: per channel on 3.10 (`channel_queue_metrics`), per
exchange on 4.0.5 (`queue_exchange_metrics`), and per node, because a
channel's counters live on the node the channel runs on. Series come and go
(a channel closes and its series vanish; a node restarts and every counter
starts again from 0), so the sum of a queue's series is not a counter at all:
it drops whenever a channel closes.

So increments are taken per series, and only then summed per queue:

* a series seen in the node's previous scrape adds `value - previous`;
* a series whose value went down was restarted (node restart, queue deleted
  and declared again, a channel id reused) and adds its new value, which is
  what it counted since the restart: never a negative increment;
* a series not seen before adds its whole value: it was created since the
  previous scrape (a new channel, a queue's first publish);
* a series that vanished adds nothing (what it counted after the previous
  scrape is lost; a rate is then a little low, never high).

After a node's scrape failed, or on the first scrape, there is no previous
value to subtract; the whole round's increments are unknown (None) rather
than the sum of an interval qscaler did not see, which would be a spike.

Only this bookkeeping lives here, at the edge, because series identity
(node, channel, exchange) exists only here. What crosses the source protocol
is the same per-interval rate the management API reports, so smoothing
(`qscaler.core.rates`), rate-aware sizing and the simulator work unchanged on
this source.
"""

from __future__ import annotations

from collections.abc import Mapping

Series = tuple[str, str, str]  # (what: a `Counter` value, queue, series id)


class CounterDeltas:
    """The last value of every series, per (vhost, node)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], Mapping[Series, float]] = {}

    def advance(
        self, vhost: str, node: str, counters: Mapping[Series, float]
    ) -> dict[tuple[str, str], float] | None:
        """Increments per (what, queue) since the node's previous scrape of the
        vhost; None when there was none to compare with. Remembers `counters`."""
        previous = self._last.get((vhost, node))
        self._last[(vhost, node)] = counters
        if previous is None:
            return None
        increments: dict[tuple[str, str], float] = {}
        for series, value in counters.items():
            before = previous.get(series, 0.0)
            added = value - before if value >= before else value
            key = (series[0], series[1])
            increments[key] = increments.get(key, 0.0) + added
        return increments

    def forget(self, vhost: str, node: str) -> None:
        """The node could not be read: its next scrape starts a new baseline."""
        self._last.pop((vhost, node), None)
