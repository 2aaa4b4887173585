"""Read every broker's vhosts once per cycle, keeping each broker's state apart.

The loop asks for the vhosts its bindings need; this module groups them into
one `VhostRequest` per (broker, vhost) — whatever the number of bindings —
sends each to its broker's source, and smooths the rates with that broker's
own smoother (two brokers may well both have a vhost `/` with a queue
`orders`: they are different queues). A broker that fails fails only its own
vhosts: the message names the broker, and every other broker is still read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from qscaler.core.binding import DEFAULT_BROKER
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

    def matcher(self, broker: str) -> QueueMatcher:
        """The pattern matcher of `broker` (its cache holds that broker's names)."""
        return self._matchers[broker]

    def read(
        self, policies: Sequence[Policy], report: ReadReport
    ) -> tuple[dict[Where, VhostView], dict[Where, str]]:
        """One read per (broker, vhost) the policies bind: the views, and the errors."""
        views: dict[Where, VhostView] = {}
        errors: dict[Where, str] = {}
        for broker, request in requests(policies):
            try:
                snapshot = self._read(broker, request)
            except SourceError as exc:
                errors[(broker, request.vhost)] = _named(broker, str(exc))
                report(broker, request.vhost, exc, self.clock())
                continue
            report(broker, request.vhost, None, snapshot.read_at)
            smoothed = self._smoothers[broker].smooth(snapshot)
            views[(broker, request.vhost)] = VhostView.of(snapshot, smoothed)
        return views, errors

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
