"""Read queue depths over AMQP 0-9-1 with a passive `queue.declare`.

The alternative to the management API for brokers that do not run (or do not
expose) the management plugin. A passive declare answers in real time, without
the statistics lag, but it only knows two numbers: ready messages and
consumers. So this source reports `messages_unacknowledged=None` and no rates,
and it cannot list a vhost: `re:` bindings need the management API.

Connections
    AMQP binds a connection to one vhost, so there is one long-lived connection
    (and one channel) per vhost, opened on first use and named "qscaler" in the
    broker's connection list. A passive declare of a queue that does not exist
    closes the channel (404); the name is reported missing and a new channel is
    opened for the next name. A connection found dropped during a read (broker
    restart, closed by an operator, idle timeout) is replaced once within that
    read; if the new one cannot be opened either, the read fails with
    `SourceUnavailable` and the next read tries again.

Bounded waits
    pika's blocking client has no per-request timeout: a broker (or a network
    path) that accepts bytes and never answers would hold a passive declare, and
    so the whole control loop, until the AMQP heartbeat gives up on the
    connection, which with the broker's default of 60 s takes 65 to 130 s.
    Opening a connection is bounded by pika's `stack_timeout` (twice the
    request timeout). An open one is bounded by asking for a heartbeat of
    `heartbeat_seconds` (by default the request timeout, at least 1 s; the
    settings use the larger of the request timeout and the poll interval, so
    the broker does not close a connection that is idle between two polls):
    pika closes a connection that received nothing for one to two heartbeats
    plus 5 s.

Credentials
    `credentials`, when given, is called again when the broker refuses the
    login, so a password rotated in a mounted Secret file is picked up without
    a restart (the management source does the same on a 401).

Queues that exist but cannot be declared passively (exclusive to another
connection, 405) are reported missing too: their depth cannot be known here.
Passive declares need no permissions on the queue, only access to the vhost.

Credentials never appear in messages or `repr`: messages name the broker as
`amqp[s]://host:port/vhost` and are scrubbed of the password.
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import quote, urlsplit

import pika
import pika.exceptions
from pika.adapters.utils.connection_workflow import AMQPConnectorException

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
from qscaler.sources.credentials import renewed, scrub
from qscaler.sources.tls import client_tls_context

if TYPE_CHECKING:
    from qscaler.settings import Settings

#: AMQP short strings (queue names) hold at most 255 bytes.
_MAX_NAME_BYTES = 255
_DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671}
#: Channel close codes that mean "this queue cannot be read", not "stop".
_UNREADABLE = {404: "does not exist", 405: "is exclusive to another connection"}


class _Dropped(Exception):
    """The connection went away during a read."""


@dataclass
class _Link:
    connection: Any  # pika.BlockingConnection
    channel: Any  # pika.adapters.blocking_connection.BlockingChannel


class AmqpSource:
    """A `QueueSource` over AMQP passive declares (pika, blocking)."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        ca_file: str | None = None,
        verify: bool = True,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        connection_name: str = "qscaler",
        heartbeat_seconds: int | None = None,
        credentials: Callable[[], tuple[str, str]] | None = None,
    ) -> None:
        """Connect lazily to `url` (amqp:// or amqps://; any path is ignored).

        With amqps the server certificate is verified against the system CAs
        plus `ca_file`, unless `verify` is False. `heartbeat_seconds` and
        `credentials`: see the module docstring.
        """
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or port == -1:
            raise SettingsError(
                f"AMQP URL {_public(url)}: must look like amqp://host:port or amqps://host:port"
            )
        self._host = parts.hostname
        self._port = port or _DEFAULT_PORTS[parts.scheme]
        self._scheme = parts.scheme
        self._credentials = pika.PlainCredentials(username, password)
        self._username = username
        self._tls = client_tls_context(ca_file, verify) if parts.scheme == "amqps" else None
        self._timeout = timeout_seconds
        self._heartbeat = heartbeat_seconds or max(1, math.ceil(timeout_seconds))
        self._reload = credentials
        self._secrets = {password}
        self._clock = clock
        self._connection_name = connection_name
        self._links: dict[str, _Link] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> AmqpSource:
        """The source `QSCALER_SOURCE=amqp` describes."""
        return cls.from_broker(default_broker(settings))

    @classmethod
    def from_broker(cls, broker: Broker, connection_name: str = "qscaler") -> AmqpSource:
        """The AMQP source of one broker; `connection_name` is what the broker's
        connection list shows for its connections."""
        assert broker.amqp_url is not None, "only a broker with an AMQP URL speaks AMQP"
        return cls(
            broker.amqp_url,
            broker.rabbitmq_username(),
            broker.rabbitmq_password(),
            ca_file=str(broker.tls_ca_file) if broker.tls_ca_file else None,
            verify=broker.tls_verify,
            timeout_seconds=broker.request_timeout_seconds,
            heartbeat_seconds=math.ceil(
                max(broker.request_timeout_seconds, broker.poll_interval_seconds)
            ),
            credentials=broker.credentials_reader(),
            connection_name=connection_name,
        )

    def __repr__(self) -> str:
        return f"AmqpSource({self._where('')!r})"

    # --- QueueSource ---------------------------------------------------------

    def read(self, request: VhostRequest) -> VhostSnapshot:
        """Declare each bound name passively; see the module docstring."""
        if request.listing:
            raise SourceError(
                f"the amqp source cannot list the queues of vhost {request.vhost!r}, which "
                "re: bindings need; use the management API (QSCALER_SOURCE=management)"
            )
        read_at = self._clock()
        if not request.names:
            return VhostSnapshot(request.vhost, {}, read_at)
        try:
            queues, missing = self._declare_all(request.vhost, request.names)
        except _Dropped:
            self._forget(request.vhost)
            try:
                queues, missing = self._declare_all(request.vhost, request.names)
            except _Dropped as exc:
                self._forget(request.vhost)
                raise self._unavailable(request.vhost, f"connection lost: {exc}") from None
        return VhostSnapshot(request.vhost, queues, read_at, frozenset(missing))

    def close(self) -> None:
        """Close every connection; errors on the way out are ignored."""
        for vhost in list(self._links):
            self._forget(vhost)

    # --- reading -------------------------------------------------------------

    def _declare_all(
        self, vhost: str, names: Iterable[str]
    ) -> tuple[dict[str, QueueStats], set[str]]:
        link = self._link(vhost)
        queues: dict[str, QueueStats] = {}
        missing: set[str] = set()
        for name in sorted(names):
            stats = self._declare(link, vhost, name)
            if stats is None:
                missing.add(name)
            else:
                queues[name] = stats
        return queues, missing

    def _declare(self, link: _Link, vhost: str, name: str) -> QueueStats | None:
        if len(name.encode()) > _MAX_NAME_BYTES:
            return None  # RabbitMQ cannot have created it
        try:
            if not link.channel.is_open:
                link.channel = link.connection.channel()
            ok = link.channel.queue_declare(name, passive=True).method
        except pika.exceptions.ChannelClosedByBroker as exc:
            self._recover_channel(link, vhost, name, exc)
            return None
        except (
            pika.exceptions.AMQPConnectionError,
            pika.exceptions.ConnectionWrongStateError,
            pika.exceptions.ChannelWrongStateError,
            OSError,
        ) as exc:
            raise _Dropped(_describe(exc)) from None
        return _stats(name, ok, vhost)

    def _recover_channel(
        self, link: _Link, vhost: str, name: str, exc: pika.exceptions.ChannelClosedByBroker
    ) -> None:
        """Open a new channel after an unreadable queue; raise for any other close."""
        if exc.reply_code not in _UNREADABLE:
            text = self._scrub(
                f"{self._where(vhost)}: passive declare of queue {name!r} failed: {exc.reply_text}"
            )
            if exc.reply_code == 403:
                raise SourceAuthError(f"{text}; check the user's permissions on vhost {vhost!r}")
            raise SourceDataError(text)
        try:
            link.channel = link.connection.channel()
        except (pika.exceptions.AMQPError, OSError) as err:
            raise _Dropped(_describe(err)) from None

    # --- connections ---------------------------------------------------------

    def _link(self, vhost: str) -> _Link:
        link = self._links.get(vhost)
        if link is not None:
            try:
                link.connection.process_data_events(time_limit=0)  # notice a close
            except (pika.exceptions.AMQPError, OSError) as exc:
                raise _Dropped(_describe(exc)) from None
            return link
        connection = self._connect(vhost)
        try:
            link = _Link(connection, connection.channel())
        except (pika.exceptions.AMQPError, OSError) as exc:
            _close_quietly(connection)
            raise self._unavailable(vhost, f"cannot open a channel: {_describe(exc)}") from None
        self._links[vhost] = link
        return link

    def _connect(self, vhost: str) -> Any:
        try:
            return self._open(vhost)
        except SourceAuthError:
            if not self._renew_credentials():
                raise
        return self._open(vhost)

    def _renew_credentials(self) -> bool:
        """Read the credentials again; True when they changed."""
        fresh = renewed(self._reload, (self._username, self._credentials.password))
        if fresh is None:
            return False
        self._username, self._credentials = fresh[0], pika.PlainCredentials(*fresh)
        self._secrets.add(fresh[1])
        return True

    def _open(self, vhost: str) -> Any:
        try:
            return pika.BlockingConnection(self._parameters(vhost))
        except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError):
            raise SourceAuthError(
                f"{self._where(vhost)} refused the login of user {self._username!r}: check "
                f"the user/password or the user's permissions on vhost {vhost!r}"
            ) from None
        except pika.exceptions.ProbableAccessDeniedError as exc:
            raise self._access_denied(vhost, exc) from None
        except ssl.SSLCertVerificationError as exc:
            raise self._unavailable(
                vhost,
                f"TLS certificate verification failed: {exc.verify_message}; trust the "
                "broker's CA with QSCALER_TLS_CA_FILE",
            ) from None
        except (pika.exceptions.AMQPError, AMQPConnectorException, OSError) as exc:
            # AMQPConnectorStackTimeout (no handshake within stack_timeout) is no AMQPError
            raise self._unavailable(vhost, f"cannot connect: {_describe(exc)}") from None

    def _parameters(self, vhost: str) -> pika.ConnectionParameters:
        ssl_options = pika.SSLOptions(self._tls, self._host) if self._tls is not None else None
        return pika.ConnectionParameters(
            host=self._host,
            port=self._port,
            virtual_host=vhost,
            credentials=self._credentials,
            ssl_options=ssl_options,
            connection_attempts=1,
            socket_timeout=self._timeout,
            stack_timeout=self._timeout * 2,
            blocked_connection_timeout=self._timeout * 6,
            heartbeat=self._heartbeat,
            client_properties={"connection_name": self._connection_name},
        )

    def _forget(self, vhost: str) -> None:
        link = self._links.pop(vhost, None)
        if link is not None:
            _close_quietly(link.connection)

    # --- messages ------------------------------------------------------------

    def _access_denied(self, vhost: str, exc: Exception) -> SourceError:
        detail = _describe(exc)
        if "not found" in detail:
            return SourceError(f"vhost {vhost!r} does not exist on {self._where('')}")
        return SourceAuthError(
            self._scrub(
                f"{self._where(vhost)} refused user {self._username!r} access to vhost "
                f"{vhost!r} ({detail}): check the user's permissions on vhost {vhost!r}"
            )
        )

    def _unavailable(self, vhost: str, detail: str) -> SourceUnavailable:
        return SourceUnavailable(self._scrub(f"RabbitMQ at {self._where(vhost)}: {detail}"))

    def _where(self, vhost: str) -> str:
        return f"{self._scheme}://{self._host}:{self._port}/{quote(vhost, safe='')}"

    def _scrub(self, message: str) -> str:
        return scrub(message, self._secrets)


def _stats(name: str, ok: Any, vhost: str) -> QueueStats:
    ready, consumers = getattr(ok, "message_count", None), getattr(ok, "consumer_count", None)
    if not (_is_count(ready) and _is_count(consumers)):
        raise SourceDataError(
            f"declare-ok for queue {name!r} in vhost {vhost!r} carried message_count="
            f"{ready!r}, consumer_count={consumers!r}"
        )
    return QueueStats(
        name=name, messages_ready=ready, messages_unacknowledged=None, consumers=consumers
    )


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _describe(exc: BaseException) -> str:
    """pika nests the reason in args, whose str() is often empty: use their repr."""
    text = "; ".join(a if isinstance(a, str) else repr(a) for a in exc.args)
    return " ".join(text.split())[:300] or type(exc).__name__


def _close_quietly(connection: Any) -> None:
    try:
        if connection.is_open:
            connection.close()
    except (pika.exceptions.AMQPError, OSError):
        pass


def _public(url: str) -> str:
    """`url` without its userinfo (credentials)."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
