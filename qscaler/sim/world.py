"""The benchmark's world: a queue, a workload, and a stale view of both.

This module is the world of docs/benchmark-model.md and nothing else: it knows no controller. A
driver (`qscaler.sim.run`, or qscaler's own loop wired to a simulated broker
and cluster) repeats, for every second: read `observe()`, optionally
`set_replicas(...)`, then `advance()`. The world takes the management-stats
snapshot itself at every `stats_interval` boundary, before the driver can act,
so no driver can see fresher data than RabbitMQ would show (§5.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from qscaler.errors import ConfigError
from qscaler.sim.queue import FluidQueue
from qscaler.sim.replicas import ReplicaSet
from qscaler.sim.trace import Trace


@dataclass(frozen=True, slots=True)
class Scenario:
    """What is the same for every controller in one comparison (§1, with its defaults)."""

    service_rate: float = 10.0
    startup_seconds: int = 30
    initial_replicas: int = 1
    stats_interval: int = 5
    slo_seconds: float = 60.0
    score_from: int = 0  # the first scored second; earlier ones are history (§1, §4)

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be {rule}, got {value!r}"
            for name, value, ok, rule in (
                ("service_rate", self.service_rate, self.service_rate > 0, "> 0"),
                ("startup_seconds", self.startup_seconds, self.startup_seconds >= 0, "≥ 0"),
                ("initial_replicas", self.initial_replicas, self.initial_replicas >= 0, "≥ 0"),
                ("stats_interval", self.stats_interval, self.stats_interval >= 1, "≥ 1"),
                ("slo_seconds", self.slo_seconds, self.slo_seconds >= 0, "≥ 0"),
                ("score_from", self.score_from, self.score_from >= 0, "≥ 0"),
            )
            if not ok
        ]
        if problems:
            raise ConfigError("invalid scenario: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """What the management API shows: one sample, taken at the boundary second `taken_at`.

    Quantities are fluid (floats); with whole-number traces and service rate
    they are whole numbers.
    """

    taken_at: int
    messages_ready: float
    messages_unacknowledged: float
    publish_rate: float
    ack_rate: float
    consumers: int

    @property
    def messages(self) -> float:
        """Ready plus unacknowledged, the depth KEDA and the bash script read."""
        return self.messages_ready + self.messages_unacknowledged


@dataclass(frozen=True, slots=True)
class ScaleChange:
    """spec.replicas went from `before` to `after` during second `at`."""

    at: int
    before: int
    after: int

    @property
    def up(self) -> bool:
        """True for a scale-up."""
        return self.after > self.before


@dataclass(frozen=True, slots=True)
class RunResult:
    """Everything a run produced, second by second: what scores and charts read.

    `backlog[t]` is the queue at the start of second t, and `backlog[n]` what
    is left at the end (n + 1 values). `replicas[t]` is spec.replicas during
    second t, after the controller acted (billed); `ready[t]` the replicas
    consuming in it. `wait_histogram[w]` is the number of messages that waited
    w seconds, those still queued at the end included; with `score_from` F,
    only messages that arrived at t ≥ F are in it.
    """

    trace: Trace
    scenario: Scenario
    backlog: tuple[float, ...]
    processed: tuple[float, ...]
    replicas: tuple[int, ...]
    ready: tuple[int, ...]
    changes: tuple[ScaleChange, ...]
    wait_histogram: tuple[float, ...]

    @property
    def publish(self) -> tuple[float, ...]:
        """Messages published in each second (the trace)."""
        return self.trace.rates


class World:
    """The simulated queue and workload, advanced one second at a time by a driver."""

    __slots__ = (
        "_acked_since_snapshot",
        "_backlog",
        "_changes",
        "_last_processed",
        "_now",
        "_processed",
        "_published_since_snapshot",
        "_queue",
        "_ready",
        "_replica_set",
        "_replicas",
        "_snapshot",
        "_spec_at_start",
        "scenario",
        "trace",
    )

    def __init__(self, trace: Trace, scenario: Scenario) -> None:
        self.trace = trace
        self.scenario = scenario
        self._now = 0
        self._queue = FluidQueue(len(trace), scored_from=scenario.score_from)
        self._replica_set = ReplicaSet(scenario.initial_replicas)
        self._spec_at_start = scenario.initial_replicas
        self._last_processed = 0.0
        self._published_since_snapshot = 0.0
        self._acked_since_snapshot = 0.0
        self._backlog = [0.0]
        self._processed: list[float] = []
        self._replicas: list[int] = []
        self._ready: list[int] = []
        self._changes: list[ScaleChange] = []
        self._snapshot = self._take_snapshot()

    @property
    def now(self) -> int:
        """The current second: the one the driver may act in and `advance()` will run."""
        return self._now

    @property
    def done(self) -> bool:
        """True once every second of the trace has run."""
        return self._now >= len(self.trace)

    @property
    def spec_replicas(self) -> int:
        """The workload's desired replicas, exactly, right now."""
        return self._replica_set.requested

    def observe(self) -> StatsSnapshot:
        """The newest management-stats snapshot, taken at the last interval boundary."""
        return self._snapshot

    def set_replicas(self, replicas: int) -> None:
        """Set spec.replicas in the current second; may be called more than once per second."""
        if replicas < 0:
            raise ValueError(f"replicas must be ≥ 0, got {replicas}")
        if self.done:
            raise RuntimeError("the run is over: every second of the trace has run")
        self._replica_set.resize(replicas, ready_at=self._now + self.scenario.startup_seconds)

    def advance(self) -> None:
        """Run the current second with the replicas set for it, then move to the next."""
        if self.done:
            raise RuntimeError("the run is over: every second of the trace has run")
        now, arrivals = self._now, self.trace.rates[self._now]
        ready = self._replica_set.ready(now)
        processed = self._queue.step(now, arrivals, ready * self.scenario.service_rate)
        self._record(ready, processed)
        self._published_since_snapshot += arrivals
        self._acked_since_snapshot += processed
        self._last_processed = processed
        self._now += 1
        self._spec_at_start = self.spec_replicas
        if self._now % self.scenario.stats_interval == 0:
            self._snapshot = self._take_snapshot()

    def result(self) -> RunResult:
        """The series recorded so far (the whole run once `done`)."""
        return RunResult(
            trace=self.trace,
            scenario=self.scenario,
            backlog=tuple(self._backlog),
            processed=tuple(self._processed),
            replicas=tuple(self._replicas),
            ready=tuple(self._ready),
            changes=tuple(self._changes),
            wait_histogram=self._queue.wait_histogram(self._now),
        )

    def _record(self, ready: int, processed: float) -> None:
        requested = self.spec_replicas
        if requested != self._spec_at_start:
            self._changes.append(ScaleChange(self._now, self._spec_at_start, requested))
        self._backlog.append(self._queue.backlog)
        self._processed.append(processed)
        self._replicas.append(requested)
        self._ready.append(ready)

    def _take_snapshot(self) -> StatsSnapshot:
        """The sample at boundary `now`, before anyone acts in it (§2, §5.1)."""
        interval = self.scenario.stats_interval
        first = self._now == 0
        snapshot = StatsSnapshot(
            taken_at=self._now,
            messages_ready=self._queue.backlog,
            messages_unacknowledged=self._last_processed,
            publish_rate=0.0 if first else self._published_since_snapshot / interval,
            ack_rate=0.0 if first else self._acked_since_snapshot / interval,
            consumers=self._replica_set.ready(self._now),
        )
        self._published_since_snapshot = 0.0
        self._acked_since_snapshot = 0.0
        return snapshot
