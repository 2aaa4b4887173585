"""The same observation made other ways, to compare the broker's cost with.

`per_queue` is the way KEDA's RabbitMQ scaler reads over HTTP: one
`GET /api/queues/{vhost}/{queue}` per bound queue (no `columns`, as KEDA
sends it; KEDA's `useRegex` triggers list a filtered vhost instead, which is
not modelled: every queue of a `re:` family is read on its own here). It is
implemented here, not in qscaler, and run with a few threads as KEDA's
scalers run concurrently; the broker's CPU time does not depend on that.

`whole_vhost` is one unpaged `GET /api/queues/{vhost}?columns=...&sort=` per
vhost: what a listing costs without pages (each page of a paged listing makes
the broker enumerate, format and sort the whole vhost again; see
docs/performance.md). It is the request qscaler sends by default, measured
apart so that a run with `--page-size` can be compared with it.

`no_stats` is one `GET /api/queues/{vhost}?disable_stats=true&enable_queue_totals=true`
per vhost: the listing RabbitMQ serves from the queues themselves, without the
statistics database (ready and unacknowledged counts, no consumers, no rates).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from bench.scale.world import World
from qscaler.sources.management_json import COLUMNS


@dataclass(frozen=True, slots=True)
class Requests:
    """Requests made and how many did not answer 200."""

    made: int
    failed: int


def per_queue(client: httpx.Client, world: World, threads: int = 4) -> Requests:
    """One GET per bound queue, every queue of every workload."""
    paths = [f"/api/queues/{_seg(w.vhost)}/{_seg(q)}" for w in world.workloads for q in w.queues]

    def get(chunk: Iterable[str]) -> int:
        return sum(1 for path in chunk if client.get(path).status_code != 200)

    chunks = [paths[i::threads] for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        failed = sum(pool.map(get, chunks))
    return Requests(len(paths), failed)


def whole_vhost(client: httpx.Client, world: World) -> Requests:
    """One unpaged, unsorted listing per vhost with qscaler's columns."""
    failed = 0
    for vhost in world.vhosts:
        response = client.get(
            f"/api/queues/{_seg(vhost)}", params={"columns": COLUMNS, "sort": ""}, timeout=120
        )
        failed += response.status_code != 200
    return Requests(len(world.vhosts), failed)


def no_stats(client: httpx.Client, world: World) -> Requests:
    """One `disable_stats` listing per vhost (counts from the queues, no statistics)."""
    failed = 0
    params = {"disable_stats": "true", "enable_queue_totals": "true"}
    for vhost in world.vhosts:
        response = client.get(f"/api/queues/{_seg(vhost)}", params=params, timeout=120)
        failed += response.status_code != 200
    return Requests(len(world.vhosts), failed)


def _seg(value: str) -> str:
    return quote(value, safe="")
