"""qscaler in the simulator: the real control loop, on simulated adapters.

The benchmark is only worth something if the qscaler it measures is the one
that runs in a cluster. So this adapter does not call `decide` itself: it
builds a `qscaler.loop.ControlLoop`, the class `qscaler run` uses, with a
simulated queue source (the world's management-stats snapshot), a simulated
cluster (one Deployment whose spec.replicas is the world's) and a writer that
sets the world's replicas. Bindings are parsed from annotations, rates are
smoothed, the Deployment is decided and the plan is applied by exactly the
code of a live cycle, at qscaler's poll interval, on the simulated clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qscaler.core.actuation import Plan
from qscaler.core.annotations import MAX_REPLICAS, MIN_REPLICAS, QUEUES
from qscaler.core.binding import ProcessDefaults
from qscaler.core.model import QueueStats, VhostSnapshot
from qscaler.core.workload import Hpa, Workload, WorkloadRef
from qscaler.loop import ControlLoop, LoopConfig, Recorder
from qscaler.outcome import CycleReport, Outcome
from qscaler.sim.controllers import Bounds
from qscaler.sim.world import StatsSnapshot
from qscaler.sources import VhostRequest

#: The simulated workload and its queue.
WORKLOAD = WorkloadRef("sim", "consumer", "Deployment")
QUEUE = "work"


class SimBroker:
    """A QueueSource that serves the world's latest management-stats snapshot."""

    def __init__(self) -> None:
        self.snapshot: StatsSnapshot | None = None
        self.now = 0.0
        self.reads = 0

    def read(self, request: VhostRequest) -> VhostSnapshot:
        """The one simulated queue, as the management API would show it now."""
        self.reads += 1
        queues: dict[str, QueueStats] = {}
        if self.snapshot is not None:
            s = self.snapshot
            queues[QUEUE] = QueueStats(
                name=QUEUE,
                messages_ready=_whole(s.messages_ready),
                messages_unacknowledged=_whole(s.messages_unacknowledged),
                consumers=s.consumers,
                publish_rate=s.publish_rate,
                ack_rate=s.ack_rate,
            )
        missing = frozenset(n for n in request.names if n not in queues)
        return VhostSnapshot(request.vhost, queues, read_at=self.now, missing=missing)

    def close(self) -> None:
        """Nothing to release."""


class SimCluster:
    """A ClusterView and ScaleWriter for one Deployment in the simulated world."""

    def __init__(self, annotations: Mapping[str, str]) -> None:
        self.annotations = dict(annotations)
        self.replicas = 0
        self.ready = 0
        self.writes = 0

    def workloads(self) -> Sequence[Workload]:
        """The simulated Deployment."""
        # The version changes with spec.replicas, as a real resourceVersion would.
        version = str(self.replicas)
        return [
            Workload(
                WORKLOAD, self.replicas, self.ready, self.annotations, resource_version=version
            )
        ]

    def hpas(self) -> Sequence[Hpa]:
        """No HPA in the benchmark scenario."""
        return []

    def apply(self, workload: Workload, hpa: Hpa | None, plan: Plan) -> None:
        """Set the world's replicas (through the adapter)."""
        if plan.replicas is not None:
            self.replicas = plan.replicas
            self.writes += 1

    def release(self, hpa: Hpa, plan: Plan) -> None:
        """Never called: there is no HPA."""


class NoRecorder:
    """A Recorder that keeps only the last outcome (benchmarks need no reporting)."""

    def __init__(self) -> None:
        self.last: Outcome | None = None

    def outcome(self, outcome: Outcome) -> None:
        """Keep the outcome."""
        self.last = outcome

    def source_read(self, vhost: str, error: object, at: float, broker: str = "") -> None:
        """Ignore."""

    def cycle(self, report: CycleReport) -> None:
        """Ignore."""


def sim_annotations(policy: Mapping[str, str], bounds: Bounds) -> dict[str, str]:
    """The policy's annotations, bound to the simulated queue and the comparison's bounds."""
    annotations = dict(policy)
    annotations[QUEUES] = QUEUE
    annotations[MIN_REPLICAS] = str(bounds.min_replicas)
    annotations[MAX_REPLICAS] = str(bounds.max_replicas)
    return annotations


class QscalerController:
    """The simulator's Controller protocol, implemented by qscaler's real loop."""

    def __init__(
        self,
        policy: Mapping[str, str],
        bounds: Bounds,
        poll_interval: float = 5.0,
        rate_smoothing_seconds: float = 15.0,
        recorder: Recorder | None = None,
    ) -> None:
        self.broker = SimBroker()
        self.cluster = SimCluster(sim_annotations(policy, bounds))
        self.poll_interval = poll_interval
        self.recorder = recorder or NoRecorder()
        self.loop = ControlLoop(
            cluster=self.cluster,
            source=self.broker,
            writer=self.cluster,
            recorder=self.recorder,
            clock=lambda: self.broker.now,
            config=LoopConfig(
                defaults=ProcessDefaults(), rate_smoothing_seconds=rate_smoothing_seconds
            ),
        )
        self._next_poll = 0.0
        self.last_report: CycleReport | None = None

    def act(self, now: int, snapshot: StatsSnapshot, spec_replicas: int) -> int:
        """Run a loop cycle when a poll is due; return the count the loop wrote."""
        self.broker.now = float(now)
        self.broker.snapshot = snapshot
        self.cluster.replicas = spec_replicas
        self.cluster.ready = snapshot.consumers
        if now >= self._next_poll:
            self._next_poll = now + self.poll_interval
            self.last_report = self.loop.cycle()
        return self.cluster.replicas


def _whole(value: float) -> int:
    """The broker reports whole messages; the fluid model has fractions."""
    return max(0, round(value))
