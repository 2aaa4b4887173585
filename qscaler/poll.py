"""Read every broker's vhosts once per cycle, keeping each broker's state apart.

The loop asks for the vhosts its bindings need; this module groups them into
one `VhostRequest` per (broker, vhost) — whatever the number of bindings —
sends each to its broker's source, and smooths the rates with that broker's
own smoother (two brokers may well both have a vhost `/` with a queue
`orders`: they are different queues). A broker that fails fails only its own
vhosts: the message names the broker, and every other broker is still read.

With several brokers, each broker's vhosts are read on a thread of its own
that lives as long as the reader (one after another within the broker, as
with one broker; a source's connections are always used from the same
thread): a cycle waits for its slowest broker, not for the sum of them, so a
broker that hangs until its timeouts does not stack its delay on top of the
others'. Smoothing and reporting happen on the calling thread once all are
back, in a fixed order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from qscaler.core.defaults import DEFAULT_BROKER
from qscaler.core.model import VhostSnapshot
from qscaler.core.policy import Policy
from qscaler.core.rates import RateSmoother
from qscaler.core.select import QueueMatcher, VhostView
from qscaler.errors import SourceError
from qscaler.sources import QueueSource, VhostRequest

log = logging.getLogger("qscaler.loop")

#: (broker, vhost): what one request reads.
Where = tuple[str, str]
#: Told about every read: broker, vhost, the error (None: read), when.
ReadReport = Callable[[str, str, SourceError | None, float], None]


def where(key: Where) -> str:
    """How a (broker, vhost) is named in reports: the vhost alone on the default broker."""
    broker, vhost = key
    return vhost if broker == DEFAULT_BROKER else f"{broker}:{vhost}"


class BrokerReader:
    """The sources of every broker, with a rate smoother and a pattern matcher each."""

    def __init__(
        self,
        sources: Mapping[str, QueueSource],
        rate_smoothing_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self.sources = dict(sources)
        self.clock = clock
        self._smoothers = {name: RateSmoother(rate_smoothing_seconds) for name in self.sources}
        # Pattern budgets are real seconds whatever `clock` is (the simulator's is not).
        self._matchers = {name: QueueMatcher(clock=time.monotonic) for name in self.sources}
        several = len(self.sources) > 1
        self._threads = {
            name: ThreadPoolExecutor(1, thread_name_prefix=f"read-{name}") for name in self.sources
        } if several else {}  # fmt: skip

    def close(self) -> None:
        """Let the reading threads end (a read under way finishes at its timeout)."""
        for thread in self._threads.values():
            thread.shutdown(wait=False)

    def matcher(self, broker: str) -> QueueMatcher:
        """The pattern matcher of `broker` (its cache holds that broker's names)."""
        return self._matchers[broker]

    def read(
        self, policies: Sequence[Policy], report: ReadReport
    ) -> tuple[dict[Where, VhostView], dict[Where, str]]:
        """One read per (broker, vhost) the policies bind: the views, and the errors."""
        views: dict[Where, VhostView] = {}
        errors: dict[Where, str] = {}
        for broker, request, result in self._read_all(requests(policies)):
            if isinstance(result, SourceError):
                errors[(broker, request.vhost)] = _named(broker, str(result))
                report(broker, request.vhost, result, self.clock())
                continue
            snapshot = result
            report(broker, request.vhost, None, snapshot.read_at)
            smoothed = self._smoothers[broker].smooth(snapshot)
            views[(broker, request.vhost)] = VhostView.of(snapshot, smoothed)
        return views, errors

    def _read_all(
        self, wanted: list[tuple[str, VhostRequest]]
    ) -> list[tuple[str, VhostRequest, VhostSnapshot | SourceError]]:
        """Every request's snapshot or error, in `wanted`'s order; on each
        broker's own thread when there are several brokers."""
        by_broker: dict[str, list[VhostRequest]] = {}
        for broker, request in wanted:
            by_broker.setdefault(broker, []).append(request)
        if not self._threads:
            return [r for b, reqs in by_broker.items() for r in self._read_broker(b, reqs)]
        futures = [
            self._threads[b].submit(self._read_broker, b, reqs) for b, reqs in by_broker.items()
        ]
        return [r for future in futures for r in future.result()]

    def _read_broker(
        self, broker: str, wanted: list[VhostRequest]
    ) -> list[tuple[str, VhostRequest, VhostSnapshot | SourceError]]:
        done: list[tuple[str, VhostRequest, VhostSnapshot | SourceError]] = []
        for request in wanted:
            try:
                done.append((broker, request, self._read(broker, request)))
            except SourceError as exc:
                done.append((broker, request, exc))
        return done

    def _read(self, broker: str, request: VhostRequest) -> VhostSnapshot:
        """Read one vhost; a source's unexpected exception fails that vhost only."""
        try:
            return self.sources[broker].read(request)
        except SourceError:
            raise
        except Exception as exc:  # a bug in a source must not stop the other vhosts
            log.exception("unexpected error reading vhost %r of broker %s", request.vhost, broker)
            raise SourceError(
                f"unexpected {type(exc).__name__} while reading vhost {request.vhost!r} "
                "(logged with its traceback)"
            ) from exc

    def keep_only(self, policies: Sequence[Policy]) -> None:
        """Forget cached matches of patterns no policy uses any more."""
        for broker, matcher in self._matchers.items():
            matcher.keep_only(
                {
                    (p.queues.vhost, pattern.pattern)
                    for p in policies
                    if p.queues.broker == broker
                    for pattern in p.queues.patterns
                }
            )


def requests(policies: Sequence[Policy]) -> list[tuple[str, VhostRequest]]:
    """One request per (broker, vhost) covering every binding of that vhost."""
    names: dict[Where, set[str]] = {}
    listing: dict[Where, bool] = {}
    for policy in policies:
        key = (policy.queues.broker, policy.queues.vhost)
        names.setdefault(key, set()).update(policy.queues.names)
        listing[key] = listing.get(key, False) or bool(policy.queues.patterns)
    return [
        (key[0], VhostRequest(vhost=key[1], names=frozenset(names[key]), listing=listing[key]))
        for key in sorted(names)
    ]


def _named(broker: str, message: str) -> str:
    return message if broker == DEFAULT_BROKER else f"broker {broker}: {message}"
