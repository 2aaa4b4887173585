"""Queue sources: the adapters that read RabbitMQ.

A source reads one vhost per call and returns a `VhostSnapshot` of raw
`QueueStats`. It parses and translates errors into the `SourceError` tree; it
never smooths, aggregates or sizes anything (that is the core's job), so two
sources can be swapped without changing a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from qscaler.core.model import VhostSnapshot


@dataclass(frozen=True, slots=True)
class VhostRequest:
    """What the bindings of one vhost need from a poll.

    `names` are the exact queue names bound; `listing` is True when some
    binding uses a `re:` pattern, so every queue name of the vhost is needed.
    """

    vhost: str
    names: frozenset[str] = frozenset()
    listing: bool = False


class QueueSource(Protocol):
    """Reads queue statistics from RabbitMQ."""

    def read(self, request: VhostRequest) -> VhostSnapshot:
        """Read the queues `request` asks for.

        Returns every requested name that exists (and, when `listing`, every
        queue of the vhost); requested names that do not exist are listed in
        `VhostSnapshot.missing`. Raises a `SourceError` when the vhost as a
        whole cannot be read.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
