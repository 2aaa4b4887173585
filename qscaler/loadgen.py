"""`qscaler loadgen`: put a known load on a queue, to watch qscaler react to it.

The docker-compose stack runs it so that a developer sees queue depth and
qscaler's decisions move without writing a producer and a consumer first. It
publishes at a rate (constant, or following a `t,publish_rate` trace like the
benchmark's, repeated) and consumes with N consumers that each take a
processing time per message, ack manually, and can be held to a total rate.

It is a demo tool, not a benchmark. Rates are targets: a schedule says how
many messages are due by each moment and the workers catch up to it, so the
totals after `--duration D` are exactly what the schedule asks for (publishing
uses confirms, so a message counts only once the broker has it) while the
per-second line shows what was actually done. "Consumed" counts acks; a
message delivered but not yet acked when the run stops goes back to the queue.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import math
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import unquote, urlsplit

import pika
import pika.exceptions

from qscaler.errors import ConfigError, SourceUnavailable
from qscaler.settings import load_settings

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

#: How often idle workers look at the schedule and the stop flag.
_TICK = 0.01


def register(sub: Subparsers) -> None:
    """Add `loadgen` to the `qscaler` command line."""
    p = sub.add_parser(
        "loadgen",
        help="publish and consume on a RabbitMQ queue at given rates (demo, development)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument(
        "--url",
        help="amqp[s]://[user:password@]host:port[/vhost] (default: QSCALER_AMQP_URL, "
        "with QSCALER_USERNAME and QSCALER_PASSWORD when the URL has no credentials)",
    )
    p.add_argument("--vhost", help="virtual host (default: the URL's, else /)")
    p.add_argument("--queue", required=True, help="the queue to publish to and consume from")
    p.add_argument("--declare", action="store_true", help="declare the queue (durable) if absent")
    publish = p.add_mutually_exclusive_group()
    publish.add_argument("--publish-rate", type=_non_negative, default=0.0, metavar="MSG/S")
    publish.add_argument(
        "--trace",
        type=Path,
        metavar="FILE.csv",
        help="follow a t,publish_rate trace, one row per second, repeated",
    )
    p.add_argument("--consumers", type=_count, default=0, metavar="N")
    p.add_argument(
        "--processing-time",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="time each consumer spends on a message before acking it",
    )
    p.add_argument(
        "--consume-rate",
        type=_non_negative,
        metavar="MSG/S",
        help="at most this many acks per second, across all consumers",
    )
    p.add_argument(
        "--prefetch",
        type=_count,
        default=10,
        metavar="N",
        help="unacked messages each consumer may hold (default 10; 0: no limit)",
    )
    p.add_argument(
        "--duration",
        type=_positive,
        metavar="SECONDS",
        help="stop after this long (default: run until interrupted)",
    )
    p.set_defaults(command=cmd_loadgen)


def cmd_loadgen(args: argparse.Namespace) -> int:
    """Run the load until --duration or Ctrl-C; print a line per second."""
    if args.trace is not None:
        publish = Schedule(load_rates(args.trace))
    else:
        publish = Schedule((args.publish_rate,))
    if (args.consume_rate is not None or args.processing_time) and args.consumers == 0:
        raise ConfigError("--consume-rate and --processing-time need --consumers N (N >= 1)")
    if publish.idle and args.consumers == 0:
        raise ConfigError("nothing to do: give --publish-rate or --trace, or --consumers")
    consume = Schedule((args.consume_rate,)) if args.consume_rate is not None else None
    load = LoadGen(
        connect=_connector(args.url, args.vhost),
        queue=args.queue,
        publish=publish,
        consumers=args.consumers,
        processing_time=args.processing_time,
        consume=consume,
        prefetch=args.prefetch,
    )
    try:
        load.prepare(declare=args.declare)
    except SourceUnavailable as exc:
        print(f"qscaler loadgen: {exc}", file=sys.stderr)
        return 1
    return load.run(args.duration, sys.stdout)


# --- schedules ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schedule:
    """Messages per second for each second, repeated: `(r,)` is a constant rate."""

    rates: tuple[float, ...]
    _totals: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.rates or any(not math.isfinite(r) or r < 0 for r in self.rates):
            raise ConfigError(f"rates must be finite and >= 0, got {self.rates[:5]!r}")
        totals = [0.0]
        for rate in self.rates:
            totals.append(totals[-1] + rate)
        object.__setattr__(self, "_totals", tuple(totals))

    @property
    def idle(self) -> bool:
        """True when nothing is ever due."""
        return self._totals[-1] == 0

    def due(self, elapsed: float) -> int:
        """How many messages should have gone by `elapsed` seconds (linear within a second)."""
        if elapsed <= 0:
            return 0
        cycles, into = divmod(elapsed, len(self.rates))
        second = int(into)
        done = (
            cycles * self._totals[-1] + self._totals[second] + self.rates[second] * (into - second)
        )
        return math.floor(done + 1e-9)


def load_rates(path: Path) -> tuple[float, ...]:
    """The publish rates of a trace file (header `t,publish_rate`, t = 0, 1, 2, ...)."""
    try:
        with path.open(newline="", encoding="utf-8") as lines:
            return parse_rates(lines, str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read trace {path}: {exc}") from exc


def parse_rates(lines: Iterable[str], source: str) -> tuple[float, ...]:
    """Parse trace CSV text; a `ConfigError` names the line of the first bad row."""
    reader = csv.reader(lines)
    rows = [(reader.line_num, [c.strip() for c in row]) for row in reader if any(row)]
    if not rows or rows[0][1] != ["t", "publish_rate"]:
        raise ConfigError(f"{source}: expected the header 't,publish_rate'")
    rates: list[float] = []
    for line, cells in rows[1:]:
        try:
            t, rate = int(cells[0]), float(cells[1])
        except (ValueError, IndexError):
            raise ConfigError(f"{source}, line {line}: expected 't,publish_rate'") from None
        if t != len(rates) or not math.isfinite(rate) or rate < 0:
            raise ConfigError(f"{source}, line {line}: expected t={len(rates)} and a rate >= 0")
        rates.append(rate)
    if not rates:
        raise ConfigError(f"{source}: the trace has no rows")
    return tuple(rates)


# --- the run --------------------------------------------------------------------


class LoadGen:
    """One publisher and N consumers on their own connections, sharing a start time."""

    def __init__(
        self,
        connect: Callable[[str], Any],
        queue: str,
        publish: Schedule,
        consumers: int = 0,
        processing_time: float = 0.0,
        consume: Schedule | None = None,
        prefetch: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`connect(name)` opens a pika BlockingConnection named `name` in the broker."""
        self.connect, self.queue = connect, queue
        self.publish, self.consumers, self.consume = publish, consumers, consume
        self.processing_time, self.prefetch, self.clock = processing_time, prefetch, clock
        self.published = self.consumed = 0
        self._turns = itertools.count()  # next() is atomic: shared without a lock
        self._acks = threading.Lock()
        self._stop = threading.Event()
        self._failures: list[str] = []
        self._start = 0.0
        self._end: float | None = None

    def prepare(self, declare: bool) -> None:
        """Declare the queue, or check that it exists (a missing queue is a ConfigError).

        Checking first turns a typo in --queue into one clear line, instead of
        a publisher that fails on its first unroutable message.
        """
        connection = self.connect("qscaler-loadgen")
        try:
            connection.channel().queue_declare(self.queue, durable=True, passive=not declare)
        except pika.exceptions.ChannelClosedByBroker as exc:
            hint = "; pass --declare to create it" if exc.reply_code == 404 else ""
            raise ConfigError(f"queue {self.queue!r}: {exc.reply_text}{hint}") from None
        finally:
            _close(connection)

    def run(self, duration: float | None, out: TextIO) -> int:
        """Publish and consume until `duration`, Ctrl-C or SIGTERM; 1 if a worker failed."""
        self._start = self.clock()
        self._end = None if duration is None else self._start + duration
        jobs: list[tuple[Any, ...]] = [] if self.publish.idle else [(self._publisher,)]
        jobs += [(self._consumer, n) for n in range(self.consumers)]
        workers = [threading.Thread(target=self._guard, args=job, daemon=True) for job in jobs]
        for worker in workers:
            worker.start()
        with contextlib.suppress(KeyboardInterrupt), _stopped_by_sigterm(self._stop):
            self._report(out)
        self._stop.set()
        for worker in workers:
            worker.join()
        print(f"done: {self._line()}", file=out, flush=True)
        for failure in self._failures:
            print(f"qscaler loadgen: {failure}", file=sys.stderr)
        return 1 if self._failures else 0

    def _report(self, out: TextIO) -> None:
        tick = 1
        while not self._stop.is_set():
            wake = self._start + tick
            if self._end is not None:
                wake = min(wake, self._end)
            if self._stop.wait(max(0.0, wake - self.clock())):
                return
            if self._end is not None and self.clock() >= self._end:
                return
            print(self._line(), file=out, flush=True)
            tick += 1

    def _line(self) -> str:
        elapsed = self._elapsed()
        return f"elapsed={elapsed:.1f}s published={self.published} consumed={self.consumed}"

    def _elapsed(self) -> float:
        now = self.clock() if self._end is None else min(self.clock(), self._end)
        return now - self._start

    def _guard(self, work: Callable[..., None], *args: Any) -> None:
        try:
            work(*args)
        except (pika.exceptions.AMQPError, OSError, SourceUnavailable) as exc:
            self._failures.append(f"{type(exc).__name__}: {_describe(exc)}")
            self._stop.set()

    def _publisher(self) -> None:
        connection = self.connect("qscaler-loadgen-publisher")
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            properties = pika.BasicProperties(content_type="text/plain")
            while True:
                stopping = self._stop.is_set()
                for _ in range(self.publish.due(self._elapsed()) - self.published):
                    body = f"loadgen {self.published}".encode()
                    channel.basic_publish("", self.queue, body, properties, mandatory=True)
                    self.published += 1
                if stopping:
                    return
                connection.process_data_events(time_limit=_TICK)
        finally:
            _close(connection)

    def _consumer(self, n: int) -> None:
        connection = self.connect(f"qscaler-loadgen-consumer-{n}")
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=self.prefetch)
            channel.basic_consume(self.queue, self._on_message)
            while not self._stop.is_set():
                connection.process_data_events(time_limit=0.1)
        finally:
            _close(connection)  # what was delivered but not acked goes back to the queue

    def _on_message(self, channel: Any, method: Any, _properties: Any, _body: bytes) -> None:
        if self.processing_time and self._stop.wait(self.processing_time):
            return
        if self.consume is not None and not self._wait_turn(self.consume):
            return
        channel.basic_ack(method.delivery_tag)
        with self._acks:
            self.consumed += 1

    def _wait_turn(self, schedule: Schedule) -> bool:
        turn = next(self._turns)
        while schedule.due(self._elapsed()) <= turn:
            if self._stop.wait(_TICK):
                return False
        return True


# --- connections and arguments ----------------------------------------------------


@contextlib.contextmanager
def _stopped_by_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM sets `stop` while the run lasts: as PID 1 in a container, a process
    ignores a SIGTERM it does not handle (`docker stop` waits 10 s, then kills)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _connector(url: str | None, vhost: str | None) -> Callable[[str], Any]:
    """`connect(name)` for the URL (or QSCALER_AMQP_URL) and the settings' credentials."""
    settings = load_settings()
    parts = urlsplit(url or settings.amqp_url)
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
        raise ConfigError(f"--url {parts.scheme}://{parts.hostname}: must be amqp:// or amqps://")
    if parts.username is not None:
        user, password = unquote(parts.username), unquote(parts.password or "")
    else:
        user, password = settings.rabbitmq_username(), settings.rabbitmq_password()
    credentials = pika.PlainCredentials(user, password)
    if vhost is None:
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    ssl_options = None
    if parts.scheme == "amqps":
        context = ssl.create_default_context(
            cafile=str(settings.tls_ca_file) if settings.tls_ca_file else None
        )
        if not settings.tls_verify:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        ssl_options = pika.SSLOptions(context, parts.hostname)
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    where = f"{parts.scheme}://{parts.hostname}:{port} (vhost {vhost!r})"

    def connect(name: str) -> Any:
        parameters = pika.ConnectionParameters(
            host=parts.hostname,
            port=port,
            virtual_host=vhost,
            credentials=credentials,
            ssl_options=ssl_options,
            connection_attempts=1,
            # A broker under a resource alarm blocks publishers: fail, don't hang.
            blocked_connection_timeout=60,
            client_properties={"connection_name": name},
        )
        try:
            return pika.BlockingConnection(parameters)
        except (pika.exceptions.AMQPError, OSError) as exc:
            raise SourceUnavailable(f"cannot connect to {where}: {_describe(exc)}") from None

    return connect


def _close(connection: Any) -> None:
    with contextlib.suppress(pika.exceptions.AMQPError, OSError):
        if connection.is_open:
            connection.close()


def _describe(exc: BaseException) -> str:
    """pika keeps the reason in args, whose str() is often empty."""
    text = "; ".join(a if isinstance(a, str) else repr(a) for a in exc.args)
    return " ".join(text.split())[:300] or type(exc).__name__


def _non_negative(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be a number >= 0")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text}: must be > 0")
    return value


def _count(text: str) -> int:
    if not text.strip().isdecimal():
        raise argparse.ArgumentTypeError(f"{text}: must be a whole number >= 0")
    return int(text)
