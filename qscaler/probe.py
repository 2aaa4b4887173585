"""The activation probe: notice the first messages of a zero-replica workload at once.

With the management API alone, a message published to the queue of a workload
at 0 replicas is seen only after the broker's statistics interval (5 s by
default) and then the next poll (5 s by default): up to 10 s before the
workload even starts waking. `run_forever` runs the probe on a thread of its
own every `QSCALER_ACTIVATION_PROBE_SECONDS`: it passive-declares the
exact-named queues of the workloads held at 0 (`qscaler.core.wake`), and when
one shows more ready messages than that workload's `activation-messages`, the
loop wakes it at once (`ControlLoop.wake`) with the probe's real-time count,
even while a cycle is reading the broker.

A passive declare is a round trip for qscaler and wakes a hibernating queue
process on the broker (docs/performance.md has the costs), so a round declares
at most `QSCALER_ACTIVATION_PROBE_MAX_QUEUES` names; with more zero-replica
queues than that, rounds take turns and each queue is read every few rounds.

A workload fires once per episode: it is not woken again while it stays
above its threshold (a wake that decide() declined, for example at
`mode: dry-run`, is left to the polls), only after it dropped below or left 0.
A probe that fails is logged once per vhost and error, not every second.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qscaler.core.wake import Ready, Sleeper, share, wanted, woken
from qscaler.core.workload import WorkloadRef
from qscaler.errors import SourceError
from qscaler.sources import QueueSource, VhostRequest

log = logging.getLogger("qscaler.probe")


@dataclass(frozen=True, slots=True)
class Wake:
    """What a probe found: the workloads to wake and the ready counts it read."""

    refs: tuple[WorkloadRef, ...]
    ready: Ready


class ActivationProbe:
    """Reads the sleepers' queues with a real-time source (AMQP passive declares)."""

    def __init__(self, source: QueueSource, max_queues: int = 1000) -> None:
        """`source` answers in real time (`AmqpSource`, with connections of its own).

        A round declares at most `max_queues` names; with more, rounds take
        turns and a workload is judged on the latest count read for each of
        its queues (see `qscaler.core.wake.share`).
        """
        self.source = source
        self.max_queues = max_queues
        self._turn = 0
        self._known: dict[str, dict[str, int]] = {}
        self._fired: set[WorkloadRef] = set()
        self._failing: dict[str, str] = {}
        #: Queue declares asked for so far.
        self.queues_probed = 0

    def check(self, sleepers: Sequence[Sleeper]) -> Wake | None:
        """Declare (some of) the sleepers' queues; a `Wake` when one should wake now."""
        wanting = wanted(sleepers)
        self._forget(wanting)
        chosen, self._turn = share(wanting, self.max_queues, self._turn)
        for vhost, names in sorted(chosen.items()):
            self._read(vhost, names)
        due = woken(sleepers, self._known)
        fresh = tuple(r for r in due if r not in self._fired)
        self._fired = set(due)
        if not fresh:
            return None
        return Wake(fresh, {vhost: dict(counts) for vhost, counts in self._known.items()})

    def _read(self, vhost: str, names: frozenset[str]) -> None:
        self.queues_probed += len(names)
        try:
            snapshot = self.source.read(VhostRequest(vhost, names))
        except SourceError as exc:
            self._known.pop(vhost, None)  # wake nobody on counts that cannot be renewed
            self._failed(vhost, exc)
            return
        if self._failing.pop(vhost, None) is not None:
            log.info("activation probe reads vhost %r again", vhost)
        known = self._known.setdefault(vhost, {})
        for name in names:
            queue = snapshot.queues.get(name)
            if queue is None:
                known.pop(name, None)
            else:
                known[name] = queue.messages_ready

    def _forget(self, wanting: Mapping[str, frozenset[str]]) -> None:
        """Drop the counts of queues no sleeper binds any more."""
        for vhost in list(self._known):
            names = wanting.get(vhost, frozenset())
            self._known[vhost] = {n: c for n, c in self._known[vhost].items() if n in names}

    def close(self) -> None:
        """Close the source's connections."""
        self.source.close()

    def _failed(self, vhost: str, exc: SourceError) -> None:
        if self._failing.get(vhost) != str(exc):
            log.warning("activation probe cannot read vhost %r: %s", vhost, exc)
        self._failing[vhost] = str(exc)
