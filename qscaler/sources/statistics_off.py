"""Depths from a broker whose management statistics are off.

RabbitMQ deprecated the management plugin's statistics collection in 3.13, and
operators switch it off (`management_agent.disable_metrics_collector = true`;
the official image without `-management` does). The queue listing then has
names but no counts. The listing `disable_stats=true&enable_queue_totals=true`
(RabbitMQ 3.8.10 and later) reads the counts from the queues themselves,
without the statistics database, but has no consumers and no rates.

It is used only when the broker really keeps no statistics. With statistics
on, a queue created within the last statistics interval is uncounted too, and
the statistics-free count of a brand-new quorum queue can still be a stale 0
(it comes from the queue's own periodic tick): reading it then would lower a
workload on a number that is not yet true. The overview tells the two apart:
without statistics it has no `statistics_db_event_queue`.
"""

from __future__ import annotations

from urllib.parse import quote

from qscaler.errors import SourceError
from qscaler.sources.management_json import Parsed, parse_totals
from qscaler.sources.streams import Get

TOTALS = {"disable_stats": "true", "enable_queue_totals": "true"}


def statistics_off(get: Get, vhost: str) -> bool:
    """Whether the broker keeps no management statistics at all."""
    body = get("/api/overview", vhost, {"columns": "statistics_db_event_queue"})
    return b"statistics_db_event_queue" not in (body or b"")


def read_totals(get: Get, vhost: str) -> Parsed:
    """The vhost's counts from the statistics-free listing (`parse_totals`)."""
    body = get(f"/api/queues/{quote(vhost, safe='')}", vhost, TOTALS)
    if body is None:
        raise SourceError(f"vhost {vhost!r} does not exist")
    return parse_totals(body, vhost)
