"""Where the recorder's Kubernetes Events go: the cluster (`qscaler.kube.events`) or nowhere.

A protocol of its own so that the recorder needs no Kubernetes client, and
runs without a cluster (`plan --bindings`, the demo, the simulator) drop
Events without a branch.
"""

from __future__ import annotations

from typing import Protocol

from qscaler.core.workload import Workload


class EventSink(Protocol):
    """Where Kubernetes Events go."""

    def emit(self, workload: Workload, event_type: str, reason: str, message: str) -> None:
        """Record an Event on the workload (repeats may be aggregated)."""
        ...

    def flush(self) -> None:
        """Write out aggregated repeats that are due; called after every cycle."""
        ...


class NoEvents:
    """An EventSink for runs without a cluster."""

    def emit(self, workload: Workload, event_type: str, reason: str, message: str) -> None:
        """Drop the event."""

    def flush(self) -> None:
        """Nothing is held back."""
