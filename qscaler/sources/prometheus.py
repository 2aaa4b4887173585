"""Read queue depths and counters from rabbitmq_prometheus, node by node.

The management API aggregates a cluster's queues through its statistics
database, which RabbitMQ deprecates and operators switch off; the Prometheus
plugin serves the same numbers from each node's own metric tables. One
request per node and vhost with bindings:

    GET /metrics/detailed?vhost=V&family=queue_coarse_metrics&family=queue_consumer_count
        &family=<counter families>

`queue_coarse_metrics` gives ready and unacknowledged messages,
`queue_consumer_count` consumers; the counter families give published and
finished (acked, or delivered without acks) counts: the per-queue
`queue_exchange_metrics` and `queue_delivery_metrics` where the node has them
(4.0.5 has them; 3.10.8 does not), otherwise the per-channel `channel_queue_exchange_metrics` and
`channel_queue_metrics` (3.10). The first request to a node asks for all four
and learns which it has. On 4.3 and later, a read of exact names adds
`queue=^(?:a|b)$`, so the node formats only those queues.

Every node
    A queue's gauges come from the node that hosts it (a quorum queue's
    leader); its counters from every node with a channel that used it. A node
    that cannot be read (refused, timed out, 503 while booting, a broken
    answer) fails only what it may host: a bound name no other node reported
    is held as unreadable (not missing), a `re:` binding in the vhost is held
    (its queue list is incomplete), and every rate of the vhost is unknown for
    that poll (a channel on that node may publish to any queue). The other
    bindings keep scaling. A node that answered in the last ten minutes and
    is no longer listed (DNS, node list) counts as failed the same way. When
    no node answers, the read fails as a whole (`SourceUnavailable`).

Rates
    Counters become per-poll increments in `qscaler.sources.counters`, and
    increments / seconds since the previous read become the raw rates the
    management API would have reported; `qscaler.core.rates` smooths them as
    it smooths the management API's.

Bounded answers
    An answer is read up to `max_bytes` (`QSCALER_PROMETHEUS_MAX_BYTES`); a
    longer one fails that node with an error that says so, before it is parsed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from qscaler.brokers import Broker, default_broker
from qscaler.core.model import QueueStats, VhostSnapshot
from qscaler.errors import (
    SettingsError,
    SourceAuthError,
    SourceDataError,
    SourceError,
    SourceUnavailable,
)
from qscaler.sources import VhostRequest
from qscaler.sources.counters import CounterDeltas
from qscaler.sources.http import transport_failure
from qscaler.sources.prometheus_nodes import (
    DnsNodes,
    ManagementNodes,
    NodeFinder,
    StaticNodes,
)
from qscaler.sources.prometheus_text import (
    BASE_FAMILIES,
    CHANNEL_COUNTER_FAMILIES,
    QUEUE_COUNTER_FAMILIES,
    Counter,
    Exposition,
    parse_exposition,
)
from qscaler.sources.tls import client_tls_context

if TYPE_CHECKING:
    from qscaler.settings import Settings

#: 64 MiB: about 100,000 queues' worth of the families read on 3.10.
DEFAULT_MAX_BYTES = 64 * 2**20
#: A node that answered within this many seconds and is now unlisted counts as failed.
REMEMBER_NODES_SECONDS = 600.0
#: Brokers from this version filter `/metrics/detailed` by `queue=<regex>`.
QUEUE_FILTER_SINCE = (4, 3)
#: Longest `queue=` filter sent; longer name lists are filtered here instead.
MAX_FILTER_CHARS = 2000


@dataclass(frozen=True, slots=True)
class PrometheusConfig:
    """Where the nodes are and how to read them: one broker's worth of settings."""

    urls: tuple[str, ...] = ()
    dns_name: str = ""
    management_url: str = ""
    username: str = ""
    password: str = ""
    port: int = 15692
    scheme: str = "http"
    ca_file: str | None = None
    verify: bool = True
    timeout_seconds: float = 5.0
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(slots=True)
class _Round:
    """One read of one vhost across the nodes."""

    answers: dict[str, Exposition]
    failures: dict[str, str]


class PrometheusSource:
    """A `QueueSource` over rabbitmq_prometheus's `/metrics/detailed`, on every node."""

    def __init__(
        self,
        client: httpx.Client,
        nodes: NodeFinder,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_bytes: int = DEFAULT_MAX_BYTES,
        owns_client: bool = False,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """Scrape the nodes `nodes` lists with `client`, reading at most
        `max_bytes` of each answer."""
        if max_bytes < 1:
            raise SettingsError(f"Prometheus answer cap {max_bytes}: must be at least 1 byte")
        self._client, self._nodes, self._clock = client, nodes, clock
        self._max_bytes = max_bytes
        self._owns_client, self._on_close = owns_client, on_close
        self._deltas = CounterDeltas()
        self._previous_read: dict[str, float] = {}  # vhost → when all its nodes last answered
        self._queue_families: dict[str, bool] = {}  # url → has the per-queue counter families
        self._versions: dict[str, tuple[int, ...]] = {}  # url → broker version
        self._seen: dict[str, tuple[float, str]] = {}  # node name → (last answer, url)
        #: Every HTTP request this source sent, successful or not.
        self.requests_made = 0

    @classmethod
    def connect(
        cls, config: PrometheusConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> PrometheusSource:
        """Build the client and the node finder `config` describes: its URLs, else
        its DNS name, else the management API's node list."""
        verify = client_tls_context(config.ca_file, config.verify)
        client = httpx.Client(
            verify=verify,
            timeout=httpx.Timeout(config.timeout_seconds),
            follow_redirects=False,
            headers={"accept": "text/plain", "accept-encoding": "identity"},
        )
        on_close: Callable[[], None] | None = None
        nodes: NodeFinder
        if config.urls:
            nodes = StaticNodes(config.urls)
        elif config.dns_name:
            nodes = DnsNodes(config.dns_name, port=config.port, scheme=config.scheme)
        else:
            management = httpx.Client(
                base_url=config.management_url,
                auth=httpx.BasicAuth(config.username, config.password),
                verify=verify,
                timeout=httpx.Timeout(config.timeout_seconds),
            )
            nodes = ManagementNodes(management, port=config.port, scheme=config.scheme)
            on_close = management.close
        return cls(
            client, nodes, clock=clock, max_bytes=config.max_bytes, owns_client=True,
            on_close=on_close,
        )  # fmt: skip

    @classmethod
    def from_settings(cls, settings: Settings) -> PrometheusSource:
        """The source `QSCALER_SOURCE=prometheus` describes."""
        return cls.from_broker(default_broker(settings))

    @classmethod
    def from_broker(cls, broker: Broker) -> PrometheusSource:
        """The Prometheus source of one broker (the default or a brokers-file entry)."""
        config = PrometheusConfig(
            urls=broker.prometheus_urls,
            dns_name=broker.prometheus_dns_name,
            management_url=broker.management_url,
            username=broker.rabbitmq_username(),
            password=broker.rabbitmq_password(),
            port=broker.prometheus_port,
            scheme=broker.prometheus_scheme,
            ca_file=str(broker.tls_ca_file) if broker.tls_ca_file else None,
            verify=broker.tls_verify,
            timeout_seconds=broker.request_timeout_seconds,
            max_bytes=broker.prometheus_max_bytes,
        )
        return cls.connect(config)

    def __repr__(self) -> str:
        return f"PrometheusSource({self._nodes!r})"

    # --- QueueSource ---------------------------------------------------------

    def read(self, request: VhostRequest) -> VhostSnapshot:
        """Read what `request` asks for from every node; see the module docstring."""
        vhost = request.vhost
        read_at = self._clock()
        result = self._scrape_all(request)
        if not result.answers:
            raise SourceUnavailable(
                f"no RabbitMQ node's Prometheus endpoint answered for vhost {vhost!r}: "
                + "; ".join(result.failures.values())
            )
        stats = self._stats(vhost, result, read_at)
        problem = _problem(result)
        unfound = request.names - stats.keys()
        missing = frozenset() if problem else frozenset(unfound)
        unreadable = dict.fromkeys(unfound, problem) if problem else {}
        return VhostSnapshot(
            vhost, stats, read_at, missing, unreadable=unreadable, incomplete=problem
        )

    def close(self) -> None:
        """Close the HTTP clients this source built."""
        if self._owns_client:
            self._client.close()
        if self._on_close is not None:
            self._on_close()

    # --- one round -------------------------------------------------------------

    def _scrape_all(self, request: VhostRequest) -> _Round:
        result = _Round({}, {})
        urls = self._nodes.urls()
        for url in urls:
            try:
                exposition = self._scrape(url, request)
            except SourceError as exc:
                result.failures[url] = str(exc)
                continue
            result.answers[url] = exposition
        now = self._clock()
        answered = {e.node for e in result.answers.values()}
        for exposition_url, exposition in result.answers.items():
            self._seen[exposition.node] = (now, exposition_url)
        for node, (at, url) in list(self._seen.items()):
            if now - at > REMEMBER_NODES_SECONDS:
                del self._seen[node]
            elif node not in answered and url not in result.failures:
                result.failures[url] = f"node {node} answered before and is no longer listed"
        return result

    def _scrape(self, url: str, request: VhostRequest) -> Exposition:
        body = self._get(url, self._params(url, request))
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceDataError(
                f"{url}/metrics/detailed answered bytes that are not UTF-8"
            ) from None
        exposition = parse_exposition(text, request.vhost, f"{url}/metrics/detailed")
        self._queue_families[url] = exposition.queue_counters
        self._versions[url] = _version(exposition.version)
        return exposition

    def _params(self, url: str, request: VhostRequest) -> list[tuple[str, str]]:
        families = list(BASE_FAMILIES)
        has_queue_families = self._queue_families.get(url)
        if has_queue_families is not False:
            families += QUEUE_COUNTER_FAMILIES
        if has_queue_families is not True:
            families += CHANNEL_COUNTER_FAMILIES
        params = [("vhost", request.vhost)] + [("family", f) for f in families]
        if not request.listing and self._versions.get(url, ()) >= QUEUE_FILTER_SINCE:
            pattern = queue_filter(request.names)
            if len(pattern) <= MAX_FILTER_CHARS:
                params.append(("queue", pattern))
        return params

    def _stats(self, vhost: str, result: _Round, read_at: float) -> dict[str, QueueStats]:
        published, finished = self._rates(vhost, result, read_at)
        stats: dict[str, QueueStats] = {}
        for exposition in result.answers.values():
            for name, gauges in exposition.gauges.items():
                if gauges.ready is None or gauges.unacked is None or gauges.consumers is None:
                    continue  # not counted yet on this node (a queue a moment old)
                before = stats.get(name)
                if before is not None and before.messages_ready >= gauges.ready:
                    continue  # reported twice (a leader moving): keep the larger
                stats[name] = QueueStats(
                    name, gauges.ready, gauges.unacked, gauges.consumers,
                    publish_rate=_get(published, name), ack_rate=_get(finished, name),
                )  # fmt: skip
        return stats

    def _rates(
        self, vhost: str, result: _Round, read_at: float
    ) -> tuple[dict[str, float] | None, dict[str, float] | None]:
        """Per-queue published and finished rates since the previous read; None
        (unknown) unless every node answered this time and last time."""
        complete = not result.failures
        for url in result.failures:
            self._deltas.forget(vhost, url)
        increments = [
            self._deltas.advance(vhost, url, e.counters) for url, e in result.answers.items()
        ]
        previous = self._previous_read.get(vhost)
        if complete:
            self._previous_read[vhost] = read_at
        else:
            self._previous_read.pop(vhost, None)
        if not complete or previous is None or read_at <= previous:
            return None, None
        if any(i is None for i in increments):
            return None, None
        elapsed = read_at - previous
        rates: dict[str, dict[str, float]] = {Counter.PUBLISHED: {}, Counter.FINISHED: {}}
        for node_increments in increments:
            for (what, queue), added in (node_increments or {}).items():
                per_queue = rates[what]
                per_queue[queue] = per_queue.get(queue, 0.0) + added / elapsed
        return rates[Counter.PUBLISHED], rates[Counter.FINISHED]

    # --- HTTP ------------------------------------------------------------------

    def _get(self, url: str, params: list[tuple[str, str]]) -> bytes:
        where = f"{url}/metrics/detailed"
        self.requests_made += 1
        try:
            with self._client.stream("GET", where, params=tuple(params)) as response:
                _check_status(response, where)
                return self._bounded_body(response, where)
        except httpx.TimeoutException:
            raise SourceUnavailable(f"{where} timed out") from None
        except httpx.TransportError as exc:
            raise SourceUnavailable(transport_failure(exc)) from None

    def _bounded_body(self, response: httpx.Response, where: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise self._too_big(where, f"{int(declared)} bytes announced")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self._max_bytes:
                raise self._too_big(where, "more than that sent")
        return bytes(body)

    def _too_big(self, where: str, detail: str) -> SourceDataError:
        return SourceDataError(
            f"{where} answered over {self._max_bytes} bytes ({detail}); not reading it: raise "
            "QSCALER_PROMETHEUS_MAX_BYTES if the vhost really is that large"
        )


def queue_filter(names: frozenset[str]) -> str:
    """A PCRE pattern matching exactly `names` (4.3's `queue=` parameter)."""
    escaped = ("".join(c if c.isalnum() or c == "_" else "\\" + c for c in n) for n in names)
    return "^(?:" + "|".join(sorted(escaped)) + ")$"


def _check_status(response: httpx.Response, where: str) -> None:
    status = response.status_code
    if status == 200:
        return
    if status == 404:
        raise SourceDataError(
            f"{where} answered 404: is the rabbitmq_prometheus plugin enabled (RabbitMQ 3.9.7 "
            "or later), and is this its port (15692 by default)?"
        )
    if status in (401, 403):
        raise SourceAuthError(f"{where} refused the request (HTTP {status})")
    if status >= 500:
        raise SourceUnavailable(f"{where} answered HTTP {status} (a node booting or overloaded)")
    raise SourceDataError(f"{where} answered HTTP {status}")


def _problem(result: _Round) -> str | None:
    """Why the vhost's queue list may be incomplete this round, or None."""
    parts = [f"a node could not be read: {why}" for why in result.failures.values()]
    parts += [
        f"node {e.node} ({url}) reported {e.unreadable_lines} line(s) whose queue name cannot "
        "be read (RabbitMQ 3.10 does not escape '\"' or '\\' in names)"
        for url, e in result.answers.items()
        if e.unreadable_lines
    ]
    return "; ".join(parts) or None


def _get(rates: Mapping[str, float] | None, name: str) -> float | None:
    if rates is None:
        return None
    return rates.get(name, 0.0)


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)
