"""The loop's one hook into a kept forecast: seed a history, reload on leading, save after.

`ControlLoop` holds a `History` per workload in memory. With a
`ForecastMemory` (`qscaler.kube.forecast_store`), what the forecast learned
also outlives the process: a workload's history starts from the saved entry
when the loop first meets the workload, a process that becomes the leader
reloads what the previous leader saved, and after each cycle the leader
hands its histories over to be saved (the store decides when), and once
more, at once, when the process stops gracefully (`flush`), before it
releases the Lease: the next leader reloads what it saved. Without one
(`QSCALER_FORECAST_STORE=false`, the simulator, `plan`), every history
starts empty, as it always did. A store's failure never fails a cycle: it
is logged, and that workload starts fresh, which never scales anything down
that an empty history would not.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from qscaler.core.forecast_codec import Memory, seeded
from qscaler.core.model import History
from qscaler.core.workload import WorkloadRef

log = logging.getLogger("qscaler.loop")


class ForecastMemory(Protocol):
    """Keeps what the forecast learned outside the process."""

    def load(self) -> None:
        """Read what was saved; `recall` hands it out."""
        ...

    def recall(self, ref: WorkloadRef) -> Memory | None:
        """The saved memory of `ref` (once), or None."""
        ...

    def keep(self, histories: Mapping[WorkloadRef, History]) -> None:
        """Save what changed, when it is time to."""
        ...

    def flush(self, histories: Mapping[WorkloadRef, History]) -> None:
        """Save what changed now, within a few seconds: the process is stopping."""
        ...


class Remembering:
    """Seeds and saves the loop's histories through a `ForecastMemory` (or does nothing)."""

    def __init__(self, memory: ForecastMemory | None) -> None:
        self.memory = memory
        self._leading = False

    def history(self, histories: Mapping[WorkloadRef, History], ref: WorkloadRef) -> History:
        """`ref`'s history, with a saved entry not used yet put in: when the
        loop first meets `ref`, and after a `leading` read (the last leader's
        entry is newer than what this process learned before it last lost the lead)."""
        history = histories.get(ref) or History()
        memory = self._recall(ref)
        return history if memory is None else seeded(history, memory)

    def leading(self, leader: bool) -> None:
        """On becoming the leader (at start, too), read what the last leader saved."""
        became = leader and not self._leading
        self._leading = leader
        if not became or self.memory is None:
            return
        try:
            self.memory.load()
        except Exception:  # the store is best effort: see the module docstring
            log.exception("forecast store: reading failed")

    def keep(self, histories: Mapping[WorkloadRef, History]) -> None:
        """Hand the histories over to be saved; called outside the loop's lock
        (with a copy), as the store may take its time."""
        if self.memory is None:
            return
        try:
            self.memory.keep(histories)
        except Exception:
            log.exception("forecast store: saving failed")

    def flush(self, histories: Mapping[WorkloadRef, History]) -> None:
        """Save what changed since the last save, on the way out; a failure is
        logged, never raised: a stopping process must go on stopping."""
        if self.memory is None:
            return
        try:
            self.memory.flush(histories)
        except Exception:
            log.exception("forecast store: saving before stopping failed")

    def _recall(self, ref: WorkloadRef) -> Memory | None:
        if self.memory is None:
            return None
        try:
            return self.memory.recall(ref)
        except Exception:
            log.exception("forecast store: recalling %s failed", ref)
            return None
