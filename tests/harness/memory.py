"""In-memory stand-ins for qscaler's own adapter protocols (not for any
Kubernetes or RabbitMQ API): what a unit or broker-only test of the loop
plugs in where `qscaler run` plugs in the KubeWriter."""

from __future__ import annotations

import threading

from qscaler.core.actuation import Plan
from qscaler.core.workload import Hpa, Workload
from qscaler.errors import KubeForbidden


class RecordingWriter:
    """A `Writer` that keeps every write in order (`release` as
    "release HPA-NAME"), sets `wrote` on each, and refuses the workloads
    named in `refuse` as RBAC would."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = refuse
        self.writes: list[tuple[str, Plan]] = []
        self.wrote = threading.Event()

    def apply(self, workload: Workload, hpa: Hpa | None, plan: Plan) -> None:
        if workload.ref.name in self.refuse:
            raise KubeForbidden("patch", "deployments/scale", 403, "RBAC says no")
        self.writes.append((workload.ref.name, plan))
        self.wrote.set()

    def release(self, hpa: Hpa, plan: Plan) -> None:
        self.writes.append((f"release {hpa.name}", plan))
        self.wrote.set()
