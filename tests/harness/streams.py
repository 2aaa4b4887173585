"""A real stream-protocol consumer for tests, with rstream, in a thread of its own.

RabbitMQ reports a stream consumer's offset lag only for clients of the stream
protocol (port `Broker.stream_port`), so the stream tests need one: pika's
AMQP consumers of a stream report no lag. `StreamReader` subscribes from the
first offset with a credit of one chunk and, after `pause_after` messages,
stops taking more (its callback waits), so the broker stops delivering and the
lag stays put; `resume()` lets it read to the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

from rstream import Consumer, ConsumerOffsetSpecification, MessageContext, OffsetType

from tests.harness.rabbitmq import Broker


class StreamReader:
    """One rstream consumer of `stream`, paused after `pause_after` messages."""

    def __init__(self, broker: Broker, vhost: str, stream: str, pause_after: int) -> None:
        """Nothing connects until `start()`."""
        self.broker, self.vhost, self.stream = broker, vhost, stream
        self.pause_after = pause_after
        self.received = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resume: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="stream-reader")

    def start(self, timeout: float = 60.0) -> StreamReader:
        """Subscribe and wait until the subscription is in place."""
        self._thread.start()
        if not self._ready.wait(timeout) or self._failure is not None:
            raise AssertionError(f"the stream consumer did not subscribe: {self._failure!r}")
        return self

    def wait_received(self, count: int, timeout: float = 60.0) -> None:
        """Block until at least `count` messages arrived (the callback counts them)."""
        deadline = time.monotonic() + timeout
        while self.received < count:
            if time.monotonic() > deadline or self._failure is not None:
                raise AssertionError(f"{self.received} of {count} received ({self._failure!r})")
            time.sleep(0.1)

    def resume(self) -> None:
        """Take every message from now on."""
        self.pause_after = 1 << 62
        self._call(lambda: self._resume.set() if self._resume else None)

    def close(self) -> None:
        """Unsubscribe and close the connection."""
        self._call(lambda: self._stop.set() if self._stop else None)
        self._thread.join(timeout=60)

    def _call(self, action: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop just ended
                self._loop.call_soon_threadsafe(action)

    def _run(self) -> None:
        try:
            asyncio.run(self._consume())
        except BaseException as exc:  # reported by start() / wait_received()
            self._failure = exc
            self._ready.set()

    async def _consume(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._resume, self._stop = asyncio.Event(), asyncio.Event()
        consumer = Consumer(
            "127.0.0.1",
            port=self.broker.stream_port,
            vhost=self.vhost,
            username=self.broker.user,
            password=self.broker.password,
        )
        await consumer.start()
        try:
            await consumer.subscribe(
                self.stream,
                self._on_message,
                offset_specification=ConsumerOffsetSpecification(OffsetType.FIRST),
                initial_credit=1,
            )
            self._ready.set()
            await self._stop.wait()
        finally:
            await consumer.close()

    async def _on_message(self, _message: Any, _context: MessageContext) -> None:
        self.received += 1
        if self.received >= self.pause_after and self._resume is not None:
            await self._resume.wait()
