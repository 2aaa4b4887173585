"""The cluster objects qscaler reasons about, reduced to the fields it uses.

The Kubernetes adapter builds these from watch events; the simulator builds
them from its own cluster. Keeping them this small is what lets a cache of
2,000 workloads stay cheap and lets the core plan writes without importing a
Kubernetes client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, order=True)
class WorkloadRef:
    """Which workload: enough to address it and to label its metrics."""

    namespace: str
    name: str
    kind: str = "Deployment"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Workload:
    """A Deployment or StatefulSet that opted in with the qscaler label."""

    ref: WorkloadRef
    replicas: int  # spec.replicas: what is requested
    ready_replicas: int = 0
    annotations: Mapping[str, str] = field(default_factory=dict)
    uid: str = ""
    resource_version: str = ""


@dataclass(frozen=True, slots=True)
class Hpa:
    """An autoscaling/v2 HorizontalPodAutoscaler and the workload it targets."""

    namespace: str
    name: str
    target: WorkloadRef
    min_replicas: int
    max_replicas: int
    #: The floor to restore, when qscaler has raised it (from the annotation).
    original_min: int | None = None
    #: The floor qscaler last wrote (from the annotation), to notice edits.
    raised_min: int | None = None
    resource_version: str = ""
