"""Stopping a watch whose connection is already gone is not an error.

`Reflector.stop` shuts the watch's connection down while the watch thread may
be finishing with it. A whole CI run once failed here: the socket had been
closed under the shutdown (EBADF), `ClusterCache.stop` raised, and the test's
other clients were never closed. Each state below is a real urllib3 response
from a real HTTP server streaming a body that never ends, as a watch does.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3

from qscaler.kube.watch import interrupt


class _Stream(BaseHTTPRequestHandler):
    """A chunked body: one line, then nothing until the client goes away."""

    protocol_version = "HTTP/1.1"  # a kept-alive connection, as a watch's is

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"3\r\n{}\n\r\n")
        self.wfile.flush()
        self.rfile.read(1)  # returns when the client closes or shuts down

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def stream() -> Iterator[Callable[[], urllib3.BaseHTTPResponse]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pool = urllib3.PoolManager()
    url = f"http://127.0.0.1:{server.server_address[1]}/watch"
    responses: list[urllib3.BaseHTTPResponse] = []

    def open_stream() -> urllib3.BaseHTTPResponse:
        response = pool.request("GET", url, preload_content=False, timeout=10)
        responses.append(response)
        return response

    yield open_stream
    for response in responses:
        with contextlib.suppress(OSError, ValueError):  # some tests closed parts of it
            response.close()
    pool.clear()
    server.shutdown()
    server.server_close()


def test_an_open_watch_is_woken_up(stream: Callable[[], urllib3.BaseHTTPResponse]) -> None:
    """The normal case: a reader blocked on the stream wakes up, at the end of
    the stream or with the broken-connection error the watch loop handles."""
    response = stream()
    assert response.read1(64) == b"{}\n"
    ended = threading.Event()

    def read_to_end() -> None:
        with contextlib.suppress(urllib3.exceptions.HTTPError):
            response.read1(64)
        ended.set()

    threading.Thread(target=read_to_end, daemon=True).start()
    interrupt(response)
    assert ended.wait(10), "the reader was not woken by the shutdown"


def test_a_closed_response_is_already_stopped(
    stream: Callable[[], urllib3.BaseHTTPResponse],
) -> None:
    response = stream()
    response.close()
    with pytest.raises(ValueError, match="_sock_shutdown is not set"):
        response.shutdown()  # what the watch thread's close leaves for `stop`
    interrupt(response)


def test_a_released_response_is_already_stopped(
    stream: Callable[[], urllib3.BaseHTTPResponse],
) -> None:
    response = stream()
    response.drain_conn = lambda: None  # type: ignore[method-assign]  # the body never ends
    response.release_conn()
    with pytest.raises(RuntimeError):
        response.shutdown()
    interrupt(response)


def test_a_response_whose_socket_was_closed_is_already_stopped(
    stream: Callable[[], urllib3.BaseHTTPResponse],
) -> None:
    """The state CI met: the socket closed under the shutdown (EBADF)."""
    response = stream()
    sock = response.connection.sock  # type: ignore[union-attr]
    assert isinstance(sock, socket.socket)
    response._fp.fp.close()  # type: ignore[attr-defined]  # the reader's hold on the socket
    sock.close()
    assert sock.fileno() == -1
    with pytest.raises(OSError, match="Bad file descriptor"):
        response.shutdown()
    interrupt(response)
