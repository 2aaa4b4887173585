"""Which RabbitMQ nodes the Prometheus source scrapes.

rabbitmq_prometheus reports what each node hosts, so the source reads every
node. Three ways to know them, one per install style:

* `StaticNodes`: a list of base URLs (`QSCALER_PROMETHEUS_URLS`), for a
  fixed cluster.
* `DnsNodes`: every address behind one DNS name, such as the headless Service
  the RabbitMQ cluster operator creates (`<cluster>-nodes.<namespace>`):
  one URL per address, on the Prometheus port.
* `ManagementNodes`: the management API's node list (`GET /api/nodes`); a
  node `rabbit@host` is scraped at `http://host:15692`. It lists stopped
  nodes too, which is what lets qscaler hold the queues of a node that is
  down rather than call them missing.

Lists are looked up again at most every `refresh_seconds`, so a cluster that
grows is followed without a request per poll.
"""

from __future__ import annotations

import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Protocol

import httpx

from qscaler.errors import SettingsError, SourceError, SourceUnavailable


class NodeFinder(Protocol):
    """Lists the base URLs of the nodes to scrape."""

    def urls(self) -> Sequence[str]:
        """The nodes' base URLs; `SourceError` when they cannot be listed."""
        ...


class StaticNodes:
    """A fixed list of base URLs."""

    def __init__(self, urls: Sequence[str]) -> None:
        self._urls = tuple(check_url(u) for u in urls)
        if not self._urls:
            raise SettingsError("QSCALER_PROMETHEUS_URLS: give at least one node URL")

    def urls(self) -> Sequence[str]:
        """The URLs as given."""
        return self._urls


class _Refreshed(ABC):
    """Caches a lookup for `refresh_seconds`; a failed lookup is not cached."""

    def __init__(self, refresh_seconds: float, clock: Callable[[], float]) -> None:
        self._refresh = refresh_seconds
        self._clock = clock
        self._cached: tuple[float, tuple[str, ...]] | None = None

    def urls(self) -> Sequence[str]:
        now = self._clock()
        if self._cached is None or now - self._cached[0] >= self._refresh:
            self._cached = (now, tuple(sorted(set(self._lookup()))))
        return self._cached[1]

    @abstractmethod
    def _lookup(self) -> Sequence[str]:
        """The node URLs as the source of truth lists them right now."""


class DnsNodes(_Refreshed):
    """Every address behind a DNS name (a headless Service)."""

    def __init__(
        self,
        name: str,
        *,
        port: int = 15692,
        scheme: str = "http",
        refresh_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        resolve: Callable[[str, int], Sequence[str]] | None = None,
    ) -> None:
        super().__init__(refresh_seconds, clock)
        self.name, self.port, self.scheme = name, port, scheme
        self._resolve = resolve or _addresses

    def _lookup(self) -> Sequence[str]:
        try:
            addresses = self._resolve(self.name, self.port)
        except OSError as exc:
            raise SourceUnavailable(
                f"cannot resolve the RabbitMQ nodes' DNS name {self.name!r}: {exc}"
            ) from None
        if not addresses:
            raise SourceUnavailable(f"the DNS name {self.name!r} has no addresses")
        return [f"{self.scheme}://{_host(a)}:{self.port}" for a in addresses]


class ManagementNodes(_Refreshed):
    """The nodes the management API lists (`GET /api/nodes?columns=name`)."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        port: int = 15692,
        scheme: str = "http",
        refresh_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(refresh_seconds, clock)
        self._client, self.port, self.scheme = client, port, scheme

    def _lookup(self) -> Sequence[str]:
        where = str(self._client.base_url.copy_with(username=None, password=None))
        try:
            response = self._client.get("/api/nodes", params={"columns": "name"})
        except httpx.HTTPError as exc:
            raise SourceUnavailable(
                f"cannot list the RabbitMQ nodes from the management API at {where}: {exc}"
            ) from None
        if response.status_code != 200:
            raise SourceError(
                f"listing the RabbitMQ nodes from the management API at {where} answered "
                f"HTTP {response.status_code}"
            )
        try:
            names = [str(node["name"]) for node in response.json()]
        except (ValueError, TypeError, KeyError):
            raise SourceError(f"the node list from {where} is not a list of nodes") from None
        return [f"{self.scheme}://{name.partition('@')[2] or name}:{self.port}" for name in names]


def check_url(url: str) -> str:
    """A node's base URL, without a trailing slash; `SettingsError` when unusable."""
    parsed = httpx.URL(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise SettingsError(
            f"Prometheus URL {url.strip()!r}: expected http(s)://host:port, such as "
            "http://rabbit-0:15692"
        )
    return str(parsed.copy_with(username=None, password=None)).rstrip("/")


def _addresses(name: str, port: int) -> Sequence[str]:
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
