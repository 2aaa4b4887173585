"""Fault-injecting proxies of the tests' own, in front of the real broker.

The fault matrix (tests/faults) needs a management API that refuses
connections, hangs, answers slowly, answers 5xx or broken JSON, or fails one
page of a listing, and an AMQP port that resets connections mid-stream or goes
silent: switched at run time, inside the test that drives qscaler's real loop
against the real RabbitMQ node. A proxy does that without touching the broker,
so the same node serves the healthy workloads of the same test.

`HttpFaultProxy` forwards to the management API unless a `Rule` matches the
request; the first matching rule's action happens instead (see the action
classes). `TcpFaultProxy` pumps bytes to the AMQP port and can reset every
connection, reset the one that sends a given marker (a queue name: "dropped
mid-poll"), freeze every connection (accept, never answer) or refuse new ones.
Both listen on 127.0.0.1 only and count what they saw.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, quote, urlsplit

# --- HTTP ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seen:
    """One request the proxy received: the raw (percent-encoded) path and the query."""

    method: str
    path: str
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer this status and body instead of asking the broker."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Hang:
    """Accept the request and never answer (until the proxy closes)."""


@dataclass(frozen=True, slots=True)
class Delay:
    """Wait `seconds`, then forward to the broker."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Truncate:
    """Forward, then send only the first `keep` bytes of the body and close.

    The Content-Length header still announces the whole body, as a
    connection cut mid-answer would.
    """

    keep: int = 16


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Forward, then replace the JSON body with `change(document)`."""

    change: Callable[[Any], Any]


Action = Answer | Hang | Delay | Truncate | Rewrite


def _always(seen: Seen) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Rule:
    """Do `action` to requests `when` matches (every request by default)."""

    action: Action
    when: Callable[[Seen], bool] = _always


def in_vhost(vhost: str) -> Callable[[Seen], bool]:
    """Requests about one vhost (its queue listing, its queues, the vhost itself)."""
    segment = quote(vhost, safe="")
    return lambda seen: (
        seen.path == f"/api/queues/{segment}"
        or seen.path.startswith(f"/api/queues/{segment}/")
        or seen.path == f"/api/vhosts/{segment}"
    )


def page(number: int) -> Callable[[Seen], bool]:
    """Listing requests for page `number`."""
    return lambda seen: seen.params.get("page") == str(number)


def both(*predicates: Callable[[Seen], bool]) -> Callable[[Seen], bool]:
    """Requests every predicate matches."""
    return lambda seen: all(p(seen) for p in predicates)


class HttpFaultProxy:
    """A reverse proxy for the management API whose behaviour changes at run time."""

    def __init__(self, upstream: str) -> None:
        """Forward to `upstream` (http://host:port); listen on a free loopback port."""
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._rules: tuple[Rule, ...] = ()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.seen: list[Seen] = []
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.accept()

    @property
    def url(self) -> str:
        """Where qscaler should point QSCALER_MANAGEMENT_URL."""
        return f"http://127.0.0.1:{self.port}"

    def set(self, *rules: Rule) -> None:
        """Replace the rules; no rules: pass everything through."""
        self._rules = rules

    def clear(self) -> None:
        """Pass everything through again, and let hanging requests go."""
        self._rules = ()
        self._released.set()
        self._released = threading.Event()

    def count(self, when: Callable[[Seen], bool] = _always) -> int:
        """How many requests (matching `when`) the proxy received."""
        with self._lock:
            return sum(1 for s in self.seen if when(s))

    def refuse(self) -> None:
        """Close the listening socket: new connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accept(self) -> None:
        """Listen (again, on the same port)."""
        if self._server is not None:
            return
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        server.block_on_close = False
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, name="fault-http", daemon=True).start()

    def close(self) -> None:
        """Stop listening and release every hanging request."""
        self.refuse()
        self._released.set()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- serving ---

    def _action(self, seen: Seen) -> Action | None:
        with self._lock:
            self.seen.append(seen)
        for rule in self._rules:
            if rule.when(seen):
                return rule.action
        return None

    def _forward(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, bytes, str]:
        connection = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            connection.request(method, target, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(), response.getheader("content-type", "")
        finally:
            connection.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                action = proxy._action(Seen("GET", path, dict(parse_qsl(query))))
                released = proxy._released
                if isinstance(action, Hang):
                    released.wait()
                    return
                if isinstance(action, Answer):
                    self._send(action.status, action.body, action.content_type)
                    return
                if isinstance(action, Delay) and released.wait(action.seconds):
                    return
                # identity encoding, so bodies can be rewritten and cut as they are
                skip = {"host", "accept-encoding"}
                forwarded = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                status, body, ctype = proxy._forward("GET", self.path, forwarded)
                if isinstance(action, Rewrite):
                    body = json.dumps(action.change(json.loads(body))).encode()
                if isinstance(action, Truncate):
                    self._send(status, body[: action.keep], ctype, length=len(body))
                    return
                self._send(status, body, ctype)

            def _send(
                self, status: int, body: bytes, ctype: str, length: int | None = None
            ) -> None:
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body) if length is None else length))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests count requests through `seen`."""

        return Handler


# --- TCP (AMQP) ------------------------------------------------------------------------


@dataclass(eq=False)
class _Pipe:
    client: socket.socket
    upstream: socket.socket
    reset: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class TcpFaultProxy:
    """A TCP proxy for the AMQP port that can reset, freeze or refuse connections."""

    def __init__(self, host: str, port: int) -> None:
        """Forward to host:port; listen on a free loopback port."""
        self._upstream = (host, port)
        self._pipes: set[_Pipe] = set()
        self._lock = threading.Lock()
        self._frozen = threading.Event()
        self._marker: bytes | None = None
        self._listener: socket.socket | None = None
        self._closed = False
        self.port = 0
        #: Connections accepted since the start: a reconnect shows here.
        self.connections = 0
        self.accept()

    @property
    def url(self) -> str:
        """Where qscaler should point QSCALER_AMQP_URL."""
        return f"amqp://127.0.0.1:{self.port}"

    def accept(self) -> None:
        """Listen (again, on the same port)."""
        if self._listener is not None:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def refuse(self) -> None:
        """Close the listening socket: new connections are refused (open ones stay)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def drop_all(self, timeout: float = 10.0) -> int:
        """Reset (RST) every open connection; returns how many there were."""
        with self._lock:
            pipes = list(self._pipes)
        for pipe in pipes:
            pipe.reset.set()
        for pipe in pipes:
            if not pipe.done.wait(timeout):
                raise AssertionError("a proxied connection did not close")
        return len(pipes)

    def reset_on(self, marker: bytes | None) -> None:
        """Reset the connection whose client sends `marker` (once), before forwarding it."""
        self._marker = marker

    def freeze(self) -> None:
        """Stop forwarding in both directions: connections stay open and silent."""
        self._frozen.set()

    def thaw(self) -> None:
        """Forward again."""
        self._frozen.clear()

    def open_connections(self) -> int:
        """Connections currently proxied."""
        with self._lock:
            return len(self._pipes)

    def close(self) -> None:
        """Refuse new connections and reset the open ones."""
        self._closed = True
        self.refuse()
        self.thaw()
        self.drop_all()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- pumping ---

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # refused or closed
            try:
                upstream = socket.create_connection(self._upstream, timeout=10)
            except OSError:
                client.close()
                continue
            pipe = _Pipe(client, upstream)
            with self._lock:
                self._pipes.add(pipe)
                self.connections += 1
            threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe: _Pipe) -> None:
        peers = {pipe.client: pipe.upstream, pipe.upstream: pipe.client}
        try:
            while not pipe.reset.is_set():
                if self._frozen.is_set():
                    time.sleep(0.02)
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.05)
                if not self._forward(pipe, readable, peers):
                    break
        except OSError:
            pass
        finally:
            _reset(pipe.client)
            _reset(pipe.upstream)
            with self._lock:
                self._pipes.discard(pipe)
            pipe.done.set()

    def _forward(
        self, pipe: _Pipe, readable: list[socket.socket], peers: dict[socket.socket, socket.socket]
    ) -> bool:
        """Forward what is readable; False when the connection is over."""
        for source in readable:
            data = source.recv(65536)
            if not data:
                return False
            marker = self._marker
            if source is pipe.client and marker is not None and marker in data:
                self._marker = None
                return False  # reset before the broker sees the request
            peers[source].sendall(data)
        return True


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, not a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
