"""The HTTP endpoints: /metrics, /healthz, /readyz and /status.

A plain standard-library server on its own thread: four read-only endpoints
do not justify a web framework. `/healthz` answers whether the loop is making
progress (a stuck loop gets the pod restarted); `/readyz` whether the watch
caches are synced and a first cycle has finished. Bind it to 127.0.0.1 to keep
it off the network.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class Health:
    """What the probes need to know, updated by the loop."""

    def __init__(self, clock: Callable[[], float], stuck_after_seconds: float) -> None:
        self.clock = clock
        self.stuck_after = stuck_after_seconds
        self.started = clock()
        self.last_cycle: float | None = None
        self.synced: Callable[[], bool] = lambda: True

    def cycle_done(self) -> None:
        """The loop finished a cycle."""
        self.last_cycle = self.clock()

    def live(self) -> tuple[bool, str]:
        """Progressing: a cycle finished recently (or start-up is still young)."""
        reference = self.last_cycle if self.last_cycle is not None else self.started
        age = self.clock() - reference
        if age <= self.stuck_after:
            return True, f"last cycle {age:.1f}s ago"
        return False, f"no cycle for {age:.1f}s (limit {self.stuck_after:g}s)"

    def ready(self) -> tuple[bool, str]:
        """Ready: caches synced and one cycle done."""
        if not self.synced():
            return False, "watch caches not synced yet"
        if self.last_cycle is None:
            return False, "no cycle finished yet"
        return True, "ready"


def serve(
    address: str,
    port: int,
    registry: CollectorRegistry,
    health: Health,
    status: Callable[[], dict[str, Any]],
) -> ThreadingHTTPServer:
    """Start the server on a daemon thread and return it (`.server_port`, `.shutdown()`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._probe(*health.live())
            elif path == "/readyz":
                self._probe(*health.ready())
            elif path == "/status":
                body = json.dumps(status(), indent=2, ensure_ascii=False).encode()
                self._send(200, body, "application/json")
            else:
                self._send(404, b"not found: try /metrics, /healthz, /readyz, /status\n")

        def _probe(self, ok: bool, detail: str) -> None:
            self._send(200 if ok else 503, (detail + "\n").encode())

        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes every few seconds would drown the decision log."""

    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="qscaler-http", daemon=True).start()
    return server
