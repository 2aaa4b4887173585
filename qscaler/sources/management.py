"""Read queue statistics from the RabbitMQ management HTTP API.

This is the default source because it is the only one that sees unacknowledged
messages, consumers and rates, and the only one that can list a vhost for `re:`
bindings. Its job is to do that with as few and as cheap requests as possible,
and to turn every failure into the `SourceError` an operator can act on.

Requests
    A vhost is listed with one unsorted `GET /api/queues/{vhost}?columns=...&sort=`,
    or, with `QSCALER_MANAGEMENT_PAGE_SIZE` (at most 500), page by page. Unpaged
    costs the broker least: measured on RabbitMQ 3.10 (docs/performance.md),
    every page makes it enumerate and sort the whole vhost (~100 µs of broker
    CPU per listed queue), so ten pages cost about 5x one listing. Pages bound
    the size of one answer, for proxies that limit it. Exact names can instead
    be read one by one (`GET /api/queues/{vhost}/{name}`, ~490 µs each, five
    listed queues' worth): n bound names cost n x 5 listed queues, a listing
    the vhost's size (learned from the previous listing) times its pages; the
    cheaper wins, a tie goes to the single reads. `requests_made` counts them.

Queue types and statistics
    Classic and quorum counts are read as they are. Streams are read by their
    consumers' offset lag (`qscaler.sources.streams`), other types are
    reported with why (`backlog_unknown`). When the broker counts none of the
    queues read (management statistics off), the vhost is listed again with
    `disable_stats=true&enable_queue_totals=true`, which reads the counts from
    the queues themselves (no consumers, no rates).

Listing while queues come and go
    Pages are read one after another, so queues created or deleted meanwhile
    shift items across page boundaries. Duplicates are harmless (the later copy
    wins). Deletions can hide a queue: when the vhost's total changes between
    pages, or a page is past the end (RabbitMQ answers 400 page_out_of_range),
    the listing is read once more, and if it changes again the read fails with
    `SourceUnavailable` (the loop holds) rather than return a partial vhost.
    Bound exact names that a listing did not show are confirmed one by one
    before being reported missing, so a queue is only "missing" when the
    broker says 404 for it.

Encoding
    Vhost and queue names are percent-encoded path segments (`/` is %2F); `.`
    and `..` cannot be addressed in a path at all, so they are only ever listed.

Credentials
    A Secret mounted as a file is rotated in place: with `credentials`
    (`QSCALER_PASSWORD_FILE`/`QSCALER_USERNAME_FILE`), a 401 re-reads them and,
    when they changed, repeats the request once with the new ones. They never
    appear in messages or `repr`: URLs are shown without userinfo, and every
    message is scrubbed of the passwords (old and new) as a last line of defence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx

from qscaler.brokers import Broker, default_broker
from qscaler.core.model import VhostSnapshot
from qscaler.errors import (
    SettingsError,
    SourceAuthError,
    SourceDataError,
    SourceError,
    SourceUnavailable,
)
from qscaler.sources import VhostRequest
from qscaler.sources.credentials import renewed, scrub
from qscaler.sources.http import (
    broker_reason,
    out_of_range,
    request_line,
    transport_failure,
    without_query,
)
from qscaler.sources.management_json import (
    COLUMNS,
    Page,
    Parsed,
    merge,
    parse_listing,
    parse_page,
    parse_queue,
    seen,
)
from qscaler.sources.statistics_off import read_totals, statistics_off
from qscaler.sources.streams import read_stream_lags, stream_backlogs
from qscaler.sources.tls import client_tls_context

if TYPE_CHECKING:
    from qscaler.settings import Settings

#: RabbitMQ's largest page size.
PAGE_SIZE = 500
#: Broker CPU of one single-queue GET, in queues of a listing (3.10: ~490 vs ~100 µs).
GET_COST_IN_LISTED_QUEUES = 5
#: Names that a URL path cannot carry (dot segments).
_UNADDRESSABLE = frozenset({".", ".."})


class ManagementSource:
    """A `QueueSource` over the management HTTP API (httpx, synchronous)."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        clock: Callable[[], float] = time.monotonic,
        owns_client: bool = False,
        secret: str | None = None,
        credentials: Callable[[], tuple[str, str]] | None = None,
        page_size: int = 0,
    ) -> None:
        """Use `client` (its base URL and auth point at the management API).

        `owns_client`: close the client in `close()`. `secret`: a string (the
        password) that must never appear in a message. `credentials`: reads the
        current username and password again after a 401. `page_size`: 0 lists a
        vhost in one request, 1 to 500 page by page (module docstring).
        """
        if not 0 <= page_size <= PAGE_SIZE:
            raise SettingsError(f"management page size {page_size}: must be 0 (unpaged) to 500")
        self._page_size = page_size
        self._client = client
        self._clock = clock
        self._owns_client = owns_client
        self._secrets = {secret} if secret else set()
        self._reload = credentials
        self._in_use: tuple[str, str] | None = None
        self._where = str(client.base_url.copy_with(username=None, password=None)).rstrip("/")
        self._sizes: dict[str, int] = {}  # queues per vhost, from the last listing
        #: Every HTTP request this source sent, successful or not.
        self.requests_made = 0

    @classmethod
    def connect(
        cls,
        url: str,
        username: str,
        password: str,
        *,
        ca_file: str | None = None,
        verify: bool = True,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        credentials: Callable[[], tuple[str, str]] | None = None,
        page_size: int = 0,
    ) -> ManagementSource:
        """Build the client from a URL and credentials; TLS is verified by default.

        `ca_file` adds a CA bundle to trust (a private CA); `verify=False` turns
        verification off entirely.
        """
        base = httpx.URL(url)
        if base.scheme not in ("http", "https"):
            raise SettingsError(
                f"management URL {base.copy_with(username=None, password=None)}: the scheme "
                "must be http or https"
            )
        client = httpx.Client(
            base_url=base.copy_with(username=None, password=None),
            auth=httpx.BasicAuth(username, password),
            verify=client_tls_context(ca_file, verify),
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
            headers={"accept": "application/json"},
        )
        source = cls(
            client,
            clock=clock,
            owns_client=True,
            secret=password,
            credentials=credentials,
            page_size=page_size,
        )
        source._in_use = (username, password)
        return source

    @classmethod
    def from_settings(cls, settings: Settings) -> ManagementSource:
        """The source `QSCALER_SOURCE=management` describes."""
        return cls.from_broker(default_broker(settings))

    @classmethod
    def from_broker(cls, broker: Broker) -> ManagementSource:
        """The management source of one broker (the default or a brokers-file entry)."""
        return cls.connect(
            broker.management_url,
            broker.rabbitmq_username(),
            broker.rabbitmq_password(),
            ca_file=str(broker.tls_ca_file) if broker.tls_ca_file else None,
            verify=broker.tls_verify,
            timeout_seconds=broker.request_timeout_seconds,
            credentials=broker.credentials_reader(),
            page_size=broker.management_page_size,
        )

    def __repr__(self) -> str:
        return f"ManagementSource({self._where!r})"

    # --- QueueSource ---------------------------------------------------------

    def read(self, request: VhostRequest) -> VhostSnapshot:
        """Read what `request` asks for; see the module docstring for how."""
        vhost = request.vhost
        _check_vhost_name(vhost)
        read_at = self._clock()
        if request.listing or self._listing_is_cheaper(request):
            parsed = self._read_listing(vhost, listing=request.listing)
            unseen = request.names - seen(parsed)
            if unseen:  # confirm before calling them missing: the listing may have shifted
                parsed = merge(parsed, self._read_each(vhost, unseen, check_vhost=False))
        else:
            parsed = self._read_each(vhost, request.names)
        if parsed.uncounted and not parsed.counted and statistics_off(self._get, vhost):
            parsed = merge(parsed, read_totals(self._get, vhost))
        self._refuse_if_nothing_counted(vhost, parsed)
        counted, unknown = dict(parsed.counted), dict(parsed.other_types)
        if parsed.streams:
            lags, why_not = read_stream_lags(self._get, vhost)
            streams, unknown_streams = stream_backlogs(parsed.streams, lags, why_not)
            counted.update(streams)
            unknown.update(unknown_streams)
        missing = request.names - counted.keys() - unknown.keys()
        if request.listing:
            missing |= parsed.uncounted
        return VhostSnapshot(vhost, counted, read_at, frozenset(missing), backlog_unknown=unknown)

    def close(self) -> None:
        """Close the HTTP client if this source built it."""
        if self._owns_client:
            self._client.close()

    # --- strategy ------------------------------------------------------------

    def _listing_is_cheaper(self, request: VhostRequest) -> bool:
        if not request.names:
            return False
        if request.names & _UNADDRESSABLE:
            return True
        size = self._sizes.get(request.vhost)
        if size is None:
            return len(request.names) > 1  # list once to learn the vhost's size
        pages = 1 if self._page_size == 0 else max(1, -(-size // self._page_size))
        return len(request.names) * GET_COST_IN_LISTED_QUEUES > size * pages

    def _read_each(self, vhost: str, names: Iterable[str], *, check_vhost: bool = True) -> Parsed:
        found: list[Parsed] = []
        wanted = sorted(set(names) - _UNADDRESSABLE)
        for name in wanted:
            body = self._get(
                f"/api/queues/{_segment(vhost)}/{_segment(name)}", vhost, {"columns": COLUMNS}
            )
            if body is not None:
                found.append(parse_queue(body, vhost, name))
        if check_vhost and wanted and not found:
            self._require_vhost(vhost)
        return merge(*found)

    def _read_listing(self, vhost: str, *, listing: bool) -> Parsed:
        parsed, consistent = self._list_pages(vhost)
        if consistent:
            return parsed
        parsed, consistent = self._list_pages(vhost)
        if consistent or not listing:
            return parsed
        raise SourceUnavailable(
            f"the queues of vhost {vhost!r} changed while they were being listed from "
            f"{self._where}, twice in a row; not trusting a partial listing this poll"
        )

    def _list_pages(self, vhost: str) -> tuple[Parsed, bool]:
        """Read every page; the flag is False when the vhost changed meanwhile."""
        if self._page_size == 0:
            # `sort=` (empty): unsorted, which spares the broker a sort of the vhost.
            params = {"columns": COLUMNS, "sort": ""}
            body = self._get(f"/api/queues/{_segment(vhost)}", vhost, params)
            if body is None:
                raise _vhost_not_found(vhost, self._where)
            whole = parse_listing(body, vhost)
            self._sizes[vhost] = len(whole.counted) + len(whole.uncounted)
            return whole, True
        first = self._page(vhost, 1)
        if first is None:  # page 1 is never out of range; treat as a broken answer
            raise SourceDataError(f"{self._where} said page 1 of vhost {vhost!r} is out of range")
        pages, consistent = [first], True
        for number in range(2, first.page_count + 1):
            page = self._page(vhost, number)
            if page is None or page.total != first.total:
                consistent = False
            if page is None:
                break
            pages.append(page)
        self._sizes[vhost] = first.total
        return merge(*(p.queues for p in pages)), consistent

    def _page(self, vhost: str, number: int) -> Page | None:
        params = {
            "page": str(number),
            "page_size": str(self._page_size),
            "name": "",
            "use_regex": "false",
            "pagination": "true",
            "sort": "name",
            "columns": COLUMNS,
        }
        body = self._get(f"/api/queues/{_segment(vhost)}", vhost, params, listing=True)
        if body is None:
            return None
        page = parse_page(body, vhost)
        if page.number != number:
            raise SourceDataError(
                f"{self._where} answered page {page.number} of vhost {vhost!r} when asked "
                f"for page {number}"
            )
        return page

    def _refuse_if_nothing_counted(self, vhost: str, parsed: Parsed) -> None:
        if parsed.uncounted and not parsed.counted:
            raise SourceDataError(
                f"{self._where} returned no message counts for any of the "
                f"{len(parsed.uncounted)} queue(s) read in vhost {vhost!r}: either they were "
                "created within the last statistics interval, or statistics are disabled "
                "(management.disable_stats, management_agent.disable_metrics_collector); "
                "enable them or use the amqp source"
            )

    def _require_vhost(self, vhost: str) -> None:
        """Raise when the vhost is gone: a one-queue listing page answers 404.

        Not `GET /api/vhosts/{vhost}`: that needs the administrator tag, and
        answers the least-privileged (`monitoring`) user 401 whether or not the
        vhost exists, which turned a deleted queue into an "auth" error.
        """
        params = {"page": "1", "page_size": "1", "pagination": "true", "columns": "name"}
        self._get(f"/api/queues/{_segment(vhost)}", vhost, params, listing=True)

    # --- HTTP ------------------------------------------------------------------

    def _get(
        self, path: str, vhost: str, params: Mapping[str, str], *, listing: bool = False
    ) -> bytes | None:
        """The body of a 200, None for a 404 (or a page past the end), else raise."""
        response = self._send(path, params)
        if response.status_code == 401 and self._renew_credentials():
            response = self._send(path, params)
        return self._body(response, vhost, listing=listing)

    def _send(self, path: str, params: Mapping[str, str]) -> httpx.Response:
        self.requests_made += 1
        try:
            return self._client.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise self._unavailable(f"timed out: {request_line(exc)}") from None
        except httpx.TransportError as exc:
            raise self._unavailable(transport_failure(exc)) from None

    def _renew_credentials(self) -> bool:
        """Read the credentials again; True when they changed (and are now in use)."""
        fresh = renewed(self._reload, self._in_use)
        if fresh is None:
            return False
        self._client.auth = httpx.BasicAuth(*fresh)
        self._in_use = fresh
        self._secrets.add(fresh[1])
        return True

    def _body(self, response: httpx.Response, vhost: str, *, listing: bool) -> bytes | None:
        status, line = response.status_code, f"GET {without_query(response.request.url)}"
        if status == 200:
            return response.content
        if status == 404 and listing:
            raise _vhost_not_found(vhost, self._where)
        if status == 404 or (status == 400 and listing and out_of_range(response)):
            return None
        reason = broker_reason(response)
        if status in (401, 403):
            raise SourceAuthError(
                self._scrub(
                    f"{line} was refused (HTTP {status}: {reason}): check the user/password "
                    f"or the user's permissions on vhost {vhost!r}"
                )
            )
        if status >= 500:
            raise self._unavailable(f"{line} failed with HTTP {status}: {reason}")
        raise SourceDataError(self._scrub(f"{line} answered HTTP {status}: {reason}"))

    def _unavailable(self, detail: str) -> SourceUnavailable:
        return SourceUnavailable(self._scrub(f"RabbitMQ management API at {self._where}: {detail}"))

    def _scrub(self, message: str) -> str:
        return scrub(message, self._secrets)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _check_vhost_name(vhost: str) -> None:
    if vhost == "" or vhost in _UNADDRESSABLE:
        raise SourceError(
            f"vhost {vhost!r} cannot be addressed through the management API (an empty, '.' "
            "or '..' path segment); use the amqp source for it"
        )


def _vhost_not_found(vhost: str, where: str) -> SourceError:
    return SourceError(f"vhost {vhost!r} does not exist on {where}")
