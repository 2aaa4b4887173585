"""Emulated consumers that follow a real Deployment, and a trace publisher.

The race (docs/race.md) needs a workload that behaves like the benchmark's:
each replica consumes `service_rate` messages per second once it has been
Ready for `startup_seconds`, and every message's wait is known. kwok's pods
run nothing, so this module plays their part from outside the cluster:

- `Publisher` replays a trace's per-second rates in real time, into one or
  more queues at once (so two arms get the very same load), stamping every
  message with its publish time (the AMQP `timestamp` property and a
  `published_at_us` header, microseconds since the epoch).
- `FollowingConsumers` watches a Deployment's pods and keeps exactly one AMQP
  consumer per pod that has been Ready for `startup_seconds`; a pod that goes
  away takes its consumer with it, so the ReplicaSet's own choice of which pod
  to remove decides which consumer stops (newest, not-ready first). The
  queue's `consumers` count is therefore the number of working replicas.
- `WaitBook` accounts for waits exactly as the simulator does: a message's
  wait is the whole second its processing starts minus the whole second it
  arrived, and a message still queued at the end waits `length − arrival`.

Each consumer processes one message at a time in `1 / service_rate` seconds
and acks it when done; it may hold `prefetch` messages (one second of work by
default) so that the broker's round trip does not slow it below its rate. A
prefetched message still waits until its processing starts, so the wait is
the queue's, not the network's.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pika
from kubernetes import client

#: How often the pod list is read (seconds): a consumer starts at most this late.
POD_POLL_SECONDS = 0.5


class WaitBook:
    """Waits of every message of one arm, by arrival second (thread-safe)."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self._published = [0] * seconds
        self._started = [0] * seconds
        self._waits: Counter[int] = Counter()
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def published(self, arrival: int) -> None:
        """One message arrived in second `arrival`."""
        with self._lock:
            self._published[arrival] += 1

    def started(self, message: str, arrival: int, start: int) -> None:
        """Message `message`, arrived in `arrival`, began processing in second `start`.

        A message redelivered after its consumer went away mid-processing counts
        once, at its first start, as the simulator counts it.
        """
        with self._lock:
            if message in self._seen:
                return
            self._seen.add(message)
            self._started[arrival] += 1
            self._waits[max(0, start - arrival)] += 1

    def histogram(self) -> list[float]:
        """`histogram[w]` = messages that waited w seconds, those still queued included."""
        with self._lock:
            waits = Counter(self._waits)
            for arrival, count in enumerate(self._published):
                left = count - self._started[arrival]
                if left > 0:
                    waits[self.seconds - arrival] += left
        size = max(waits, default=0) + 1
        return [float(waits.get(w, 0)) for w in range(size)]

    def still_queued(self) -> int:
        """Messages published in the run whose processing never started."""
        with self._lock:
            return sum(self._published) - sum(self._started)


@dataclass
class Clock:
    """The run's second 0, shared by every arm, on the wall clock (messages carry it)."""

    start: float = field(default_factory=time.time)

    def second(self, at: float | None = None) -> int:
        """The whole second of the run that `at` (default: now) falls in."""
        return math.floor((time.time() if at is None else at) - self.start)

    def sleep_until(self, offset: float) -> None:
        """Sleep until `offset` seconds after the start (no-op when already past)."""
        delay = self.start + offset - time.time()
        if delay > 0:
            time.sleep(delay)


class Publisher(threading.Thread):
    """Publish `rates[t]` messages during each second t, evenly spread, to every queue."""

    def __init__(
        self,
        connect: Callable[[str], Any],
        queues: Sequence[tuple[str, WaitBook]],
        rates: Sequence[float],
        clock: Clock,
    ) -> None:
        super().__init__(name="race-publisher", daemon=True)
        self._connect = connect
        self._queues = queues
        self._rates = rates
        self._due = _cumulative_whole(rates)
        self._clock = clock
        self.error: BaseException | None = None
        self.published = 0

    def run(self) -> None:
        try:
            connection = self._connect("qscaler-race-publisher")
            channel = connection.channel()
            for second in range(len(self._rates)):
                self._publish_second(channel, second)
            connection.close()
        except BaseException as exc:  # reported by the driver, which stops the run
            self.error = exc

    def _publish_second(self, channel: Any, second: int) -> None:
        count = self._due[second + 1] - self._due[second]
        for k in range(count):
            self._clock.sleep_until(second + k / max(count, 1))
            now = time.time()
            arrival = min(self._clock.second(now), len(self._rates) - 1)
            properties = pika.BasicProperties(
                message_id=str(self.published),
                timestamp=int(now),
                headers={"published_at_us": int(now * 1_000_000)},
                delivery_mode=1,
            )
            for queue, book in self._queues:
                channel.basic_publish("", queue, b"m", properties)
                book.published(arrival)
            self.published += 1


class FollowingConsumers(threading.Thread):
    """One consumer per pod of the Deployment that has been Ready for `startup_seconds`."""

    def __init__(
        self,
        *,
        core: client.CoreV1Api,
        namespace: str,
        app: str,
        connect: Callable[[str], Any],
        queue: str,
        book: WaitBook,
        clock: Clock,
        service_rate: float,
        startup_seconds: float,
        prefetch: int | None = None,
    ) -> None:
        super().__init__(name=f"race-consumers-{app}", daemon=True)
        self._core, self._namespace, self._app = core, namespace, app
        self._connect, self._queue, self._book, self._clock = connect, queue, book, clock
        self._service = 1.0 / service_rate
        self._startup = startup_seconds
        self._prefetch = prefetch or math.ceil(service_rate)
        self._ready_since: dict[str, float] = {}
        self._consumers: dict[str, _Consumer] = {}
        self._stopping = threading.Event()
        self.error: BaseException | None = None

    def stop(self) -> None:
        """Ask the thread to cancel every consumer and close its connection."""
        self._stopping.set()

    @property
    def working(self) -> int:
        """Consumers running now (only the owning thread changes the dict)."""
        return len(self._consumers)

    def run(self) -> None:
        try:
            connection = self._connect(f"qscaler-race-{self._app}")
            next_poll = 0.0
            while not self._stopping.is_set():
                if time.monotonic() >= next_poll:
                    self._follow(connection)
                    next_poll = time.monotonic() + POD_POLL_SECONDS
                connection.process_data_events(time_limit=0.05)
            for name in list(self._consumers):
                self._consumers.pop(name).cancel()
            connection.close()
        except BaseException as exc:  # reported by the driver, which stops the run
            self.error = exc

    def _follow(self, connection: Any) -> None:
        pods = self._core.list_namespaced_pod(
            self._namespace, label_selector=f"app={self._app}", _request_timeout=10
        ).items
        now = time.monotonic()
        ready = {p.metadata.name for p in pods if _ready(p)}
        for name in ready:
            self._ready_since.setdefault(name, now)
        for name in list(self._ready_since):
            if name not in ready:
                del self._ready_since[name]
        for name in list(self._consumers):
            if name not in ready:
                self._consumers.pop(name).cancel()
        for name, since in self._ready_since.items():
            if name not in self._consumers and now - since >= self._startup:
                self._consumers[name] = _Consumer(connection, self, name)

    def adopt(self, names: Sequence[str]) -> None:
        """Treat these pods as ready since long ago (the run's initial replicas)."""
        for name in names:
            self._ready_since[name] = -math.inf


class _Consumer:
    """One pod's consumer: a channel that processes one message per service time."""

    def __init__(self, connection: Any, owner: FollowingConsumers, pod: str) -> None:
        self._connection = connection
        self._owner = owner
        self._busy_until = 0.0
        self._channel = connection.channel()
        self._channel.basic_qos(prefetch_count=owner._prefetch)
        self._tag = self._channel.basic_consume(owner._queue, self._on_message, consumer_tag=pod)

    def _on_message(self, channel: Any, method: Any, properties: Any, _body: bytes) -> None:
        now = time.time()
        start = max(now, self._busy_until)
        self._busy_until = start + self._owner._service
        published = (properties.headers or {}).get("published_at_us", now * 1e6) / 1e6
        clock, book = self._owner._clock, self._owner._book
        arrival = min(max(clock.second(published), 0), book.seconds - 1)
        message, tag = str(properties.message_id), method.delivery_tag

        def begin() -> None:
            if channel.is_open:  # a cancelled consumer's prefetched messages go back
                book.started(message, arrival, clock.second(start))

        self._connection.call_later(start - now, begin)
        self._connection.call_later(self._busy_until - now, lambda: _ack(channel, tag))

    def cancel(self) -> None:
        """Stop consuming; unacked messages go back to the queue (they were not processed)."""
        if self._channel.is_open:
            self._channel.close()


def _cumulative_whole(rates: Sequence[float]) -> list[int]:
    """Whole messages due by the start of each second (fractional rates carry over)."""
    due, total = [0], 0.0
    for rate in rates:
        total += rate
        due.append(math.floor(total + 1e-9))
    return due


def _ack(channel: Any, tag: int) -> None:
    if channel.is_open:
        channel.basic_ack(tag)


def _ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp is not None:
        return False
    conditions = pod.status.conditions or [] if pod.status else []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)
