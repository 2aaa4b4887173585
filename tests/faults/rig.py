"""qscaler's real control loop, wired for fault tests without a cluster.

The loop, the queue sources, the OutcomeRecorder and the Metrics are the real ones;
only qscaler's own cluster-side protocols are in memory: `Fleet` is the
ClusterView and the ScaleWriter (a write changes the workload's replicas, as
the scale subresource would), `RecordingEvents` is the EventSink. The
Kubernetes adapters behind those protocols are tested against a real
apiserver in tests/e2e.

Every workload is made eager to scale down (`cooldown: 0`,
`scale-down-limit: 100%`), so a fault misread as "the queue is empty" would
show as a scale-down in the very cycle it happened: that is what makes "no
workload was scaled down because of the fault" an assertion that can fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest

from qscaler.core.actuation import Plan
from qscaler.core.workload import Hpa, Workload, WorkloadRef
from qscaler.loop import ControlLoop, LoopConfig
from qscaler.outcome import Outcome
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.record.status import status_document
from qscaler.sources import QueueSource

NAMESPACE = "faults"


def consumer(name: str, queues: str, vhost: str, replicas: int = 0, **annotations: str) -> Workload:
    """A Deployment bound to `queues` (10 messages per replica), eager to scale down.

    It starts at 0 replicas: the broker's statistics lag the messages published
    before a test starts, and a first poll that still says 0 must not look like
    a scale-down.
    """
    values = {
        "qscaler.io/queues": queues,
        "qscaler.io/vhost": vhost,
        "qscaler.io/messages-per-replica": "10",
        "qscaler.io/min-replicas": "0",
        "qscaler.io/max-replicas": "50",
        "qscaler.io/cooldown": "0",
        "qscaler.io/scale-down-limit": "100%",
    }
    values.update({f"qscaler.io/{k.replace('_', '-')}": v for k, v in annotations.items()})
    return Workload(WorkloadRef(NAMESPACE, name), replicas, replicas, values)


@dataclass(frozen=True, slots=True)
class Write:
    """One scale write the loop made."""

    workload: str
    before: int
    after: int


class Fleet:
    """ClusterView and ScaleWriter in memory: writes change the replicas it serves."""

    def __init__(self, workloads: list[Workload]) -> None:
        self._workloads = {w.ref.name: w for w in workloads}
        self.writes: list[Write] = []

    def workloads(self) -> list[Workload]:
        """The workloads, with the replicas the last writes set."""
        return list(self._workloads.values())

    def hpas(self) -> list[Hpa]:
        """No HPAs: the HPA-floor path is the Kubernetes half's business."""
        return []

    def apply(self, workload: Workload, hpa: Hpa | None, plan: Plan) -> None:
        """Record the write and set the replicas."""
        assert plan.replicas is not None
        name = workload.ref.name
        self.writes.append(Write(name, workload.replicas, plan.replicas))
        old = self._workloads[name]
        self._workloads[name] = Workload(old.ref, plan.replicas, plan.replicas, old.annotations)

    def release(self, hpa: Hpa, plan: Plan) -> None:
        """Never called: there are no HPAs."""
        raise AssertionError("no HPA to release")

    def replicas(self, name: str) -> int:
        """The workload's current replicas."""
        return self._workloads[name].replicas

    def lowered(self) -> list[Write]:
        """Every write that lowered a workload."""
        return [w for w in self.writes if w.after < w.before]


@dataclass(frozen=True, slots=True)
class Event:
    """One Event the OutcomeRecorder emitted."""

    workload: str
    type: str
    reason: str
    message: str


@dataclass
class RecordingEvents:
    """An EventSink that keeps every Event."""

    events: list[Event] = field(default_factory=list)

    def emit(self, workload: Workload, event_type: str, reason: str, message: str) -> None:
        """Keep the Event."""
        self.events.append(Event(workload.ref.name, event_type, reason, message))

    def flush(self) -> None:
        """Nothing is aggregated here."""

    def of(self, workload: str, reason: str | None = None) -> list[Event]:
        """The workload's Events (with `reason`)."""
        return [e for e in self.events if e.workload == workload and reason in (None, e.reason)]


class Rig:
    """One real ControlLoop over `source`, with its reports kept for assertions."""

    def __init__(self, source: QueueSource, workloads: list[Workload]) -> None:
        self.source = source
        self.fleet = Fleet(workloads)
        self.events = RecordingEvents()
        self.registry = CollectorRegistry()
        self.reporter = OutcomeRecorder(Metrics(self.registry), self.events)
        self.loop = ControlLoop(
            self.fleet,
            source,
            self.fleet,
            self.reporter,
            clock=time.monotonic,
            config=LoopConfig(rate_smoothing_seconds=15.0),
        )
        self.history: list[dict[str, Outcome]] = []
        self._mark = (0, 0.0)
        self._events_mark = 0

    def cycle(self) -> dict[str, Outcome]:
        """One cycle of the real loop; the outcomes by workload name."""
        report = self.loop.cycle()
        outcomes = {o.ref.name: o for o in report.outcomes}
        self.history.append(outcomes)
        return outcomes

    def until(
        self,
        what: str,
        done: Callable[[dict[str, Outcome]], bool],
        timeout: float = 30.0,
        interval: float = 0.3,
    ) -> dict[str, Outcome]:
        """Cycle until `done(outcomes)`; fail naming `what` and the last outcomes."""
        deadline = time.monotonic() + timeout
        while True:
            outcomes = self.cycle()
            if done(outcomes):
                return outcomes
            if time.monotonic() >= deadline:
                summary = {n: (o.reason, o.error) for n, o in outcomes.items()}
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}: {summary}")
            time.sleep(interval)

    def at(self, **replicas: int) -> Callable[[dict[str, Outcome]], bool]:
        """A `done` for `until`: every named workload has these replicas."""
        return lambda _: all(self.fleet.replicas(n) == r for n, r in replicas.items())

    # --- metrics ---

    def value(self, name: str, **labels: str) -> float:
        """A sample of the registry (0 when absent)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def workload_value(self, name: str, workload: str, **labels: str) -> float:
        """A per-workload sample."""
        return self.value(name, namespace=NAMESPACE, workload=workload, kind="Deployment", **labels)

    def held(self, workload: str, reason: str) -> bool:
        """qscaler_held_back{reason} is 1 for the workload."""
        return self.workload_value("qscaler_held_back", workload, reason=reason) == 1

    def decisions(self, workload: str, reason: str, direction: str = "none") -> float:
        """qscaler_decisions_total for the workload, reason and direction."""
        return self.workload_value(
            "qscaler_decisions_total", workload, direction=direction, reason=reason
        )

    def source_errors(self, vhost: str, kind: str) -> float:
        """qscaler_source_errors_total{vhost, kind}."""
        return self.value("qscaler_source_errors_total", broker="default", vhost=vhost, kind=kind)

    def scale_downs(self) -> float:
        """Every decision with direction="down" in the registry, summed over workloads."""
        total = 0.0
        for metric in self.registry.collect():
            for sample in metric.samples:
                if (
                    sample.name == "qscaler_decisions_total"
                    and sample.labels.get("direction") == "down"
                ):
                    total += sample.value
        return total

    # --- the fault-safety assertions every test makes ---

    def fault_starts(self) -> None:
        """Mark the start of the fault: `assert_nothing_lowered` looks from here on."""
        self._mark = (len(self.fleet.writes), self.scale_downs())
        self._events_mark = len(self.events.events)

    def fault_events(self, workload: str, reason: str) -> list[Event]:
        """The workload's Events with `reason` since the fault started."""
        return [
            e
            for e in self.events.events[self._events_mark :]
            if (e.workload, e.reason) == (workload, reason)
        ]

    def assert_nothing_lowered(self) -> None:
        """Since the fault started, no write lowered a workload and no decision went down."""
        writes, downs = self._mark
        lowered = [w for w in self.fleet.writes[writes:] if w.after < w.before]
        assert lowered == [], f"scaled down during the fault: {lowered}"
        assert self.scale_downs() == downs, "a decision went down during the fault"

    def everything_reported(self) -> str:
        """Every place a secret could leak: Events, errors, /status, /metrics."""
        parts = [f"{e.reason}: {e.message}" for e in self.events.events]
        for outcomes in self.history:
            parts.extend(o.error or "" for o in outcomes.values())
            parts.extend(o.decision.message for o in outcomes.values() if o.decision is not None)
        parts.append(repr(status_document(self.reporter.last_report)))
        parts.append(generate_latest(self.registry).decode())
        parts.append(repr(self.source))
        return "\n".join(parts)


class MakeRig(Protocol):
    """Builds a Rig over a source of the fixture's choosing."""

    def __call__(self, workloads: list[Workload], timeout: float = 2.0, page_size: int = 0) -> Rig:
        """A Rig over `workloads`; `timeout` is the source's request timeout,
        `page_size` its listing page size (0: unpaged)."""
        ...


def by_reason(outcomes: Mapping[str, Outcome]) -> dict[str, str | None]:
    """Each workload's reason, for readable assertion failures."""
    return {n: (o.reason.value if o.reason else None) for n, o in outcomes.items()}
