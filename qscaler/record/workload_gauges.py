"""The per-workload gauges, built at scrape time from the last cycle's report.

A custom collector, as client_python documents them: an object whose
`collect()` yields metric families, registered on the registry. Each scrape
builds every per-workload series from the last finished cycle, so /metrics
shows exactly the workloads and reasons of that cycle, as /status does from
the same report: a departed workload, a reason no longer holding one back, a
forecast that ended or a follower's old view cannot linger as a stale series,
and nothing keeps a list of which series exist. A scrape also shows whole
cycles, never a cycle half-way (the workloads it has reached beside the
previous cycle's values of the rest).

Beside the report, `show` keeps one value per workload: the queue view of its
last decision on trustworthy data. A decision on data it distrusts (a source
error, stale data, a missing queue: `UNTRUSTED_DATA`) keeps showing what the
queues last held rather than zeros; the view goes with the workload.

Thread safety: the loop thread calls `show`, which builds a new immutable
`_Shown` and replaces the reference in one assignment; the HTTP thread's
`collect` reads that reference once, so it never sees two cycles mixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric

from qscaler.core.model import Decision, QueueFigures
from qscaler.core.policy import Mode, Policy
from qscaler.core.reasons import HELD_BACK, UNTRUSTED_DATA, Hold, Reason
from qscaler.core.workload import WorkloadRef
from qscaler.outcome import CycleReport, Outcome, in_force

WORKLOAD_LABELS = ("namespace", "workload", "kind")


@dataclass(frozen=True, slots=True)
class QueueView:
    """What a workload's queues held at its last decision on trustworthy data."""

    recommended: int | None
    backlog: float | None
    throughput: float | None
    figures: QueueFigures
    queues_matched: int


@dataclass(frozen=True, slots=True)
class _Shown:
    """What scrapes show until the next cycle: one cycle's outcomes and views."""

    outcomes: tuple[Outcome, ...] = ()
    queues: Mapping[WorkloadRef, QueueView] = field(default_factory=dict)
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class _Gauge:
    """A per-workload gauge's name, HELP text and labels after the workload's."""

    name: str
    help: str
    more_labels: tuple[str, ...] = ()

    def family(self) -> GaugeMetricFamily:
        """An empty family for one scrape."""
        return GaugeMetricFamily(self.name, self.help, labels=[*WORKLOAD_LABELS, *self.more_labels])


def _decided(read: Callable[[Decision], float]) -> Callable[[Outcome], float | None]:
    """A gauge of this cycle's decision: none for a workload without one
    (an invalid binding, an internal error)."""

    def value(outcome: Outcome) -> float | None:
        decision = outcome.decision
        return None if decision is None or outcome.observation is None else read(decision)

    return value


def _bound(read: Callable[[Policy], float]) -> Callable[[Outcome], float | None]:
    """A gauge of the workload's policy: none while its binding is invalid."""
    return lambda outcome: None if outcome.policy is None else read(outcome.policy)


def _applied(outcome: Outcome) -> float | None:
    """Only a plan in force: a held or refused write was planned, not applied."""
    return outcome.plan.applied if outcome.plan is not None and in_force(outcome) else None


def _replicas(what: str, help: str) -> _Gauge:
    return _Gauge(f"qscaler_replicas_{what}", help)


_OF_THE_CYCLE: tuple[tuple[_Gauge, Callable[[Outcome], float | None]], ...] = (
    (
        _replicas("current", "Replicas qscaler found (spec.replicas, or the HPA floor)."),
        _decided(lambda d: d.current),
    ),
    (
        _replicas(
            "desired",
            "Replicas the policy wants after every step (what a dry run would apply).",
        ),
        _decided(lambda d: d.desired),
    ),
    (
        _replicas("applied", "Replicas written: spec.replicas or the HPA minReplicas floor."),
        _applied,
    ),
    (_replicas("min", "min-replicas of the workload's policy."), _bound(lambda p: p.min_replicas)),
    (_replicas("max", "max-replicas of the workload's policy."), _bound(lambda p: p.max_replicas)),
    (
        _replicas("spec", "spec.replicas of the workload as last seen in the watch cache."),
        lambda o: o.workload.replicas,
    ),
    (
        _Gauge(
            "qscaler_binding_valid",
            "1 when the workload's annotations parse, 0 when they are invalid.",
        ),
        lambda o: 0 if o.policy is None else 1,
    ),
)

_OF_THE_QUEUES: tuple[tuple[_Gauge, Callable[[QueueView], float | None]], ...] = (
    (
        _Gauge(
            "qscaler_queue_publish_messages_per_second",
            "Smoothed publish rate into the workload's matched queues.",
        ),
        lambda v: v.figures.publish_rate,
    ),
    (
        _Gauge(
            "qscaler_queue_ack_messages_per_second",
            "Smoothed acknowledge rate (processing throughput) of the workload's queues.",
        ),
        lambda v: v.figures.ack_rate,
    ),
    (
        _Gauge(
            "qscaler_queue_consumers",
            "Consumers on the workload's busiest-subscribed matched queue.",
        ),
        lambda v: v.figures.consumers,
    ),
    (
        _Gauge(
            "qscaler_queues_matched",
            "Queues the workload's binding matched in the last observation.",
        ),
        lambda v: v.queues_matched,
    ),
    (
        _Gauge(
            "qscaler_replica_throughput_messages_per_second",
            "Learned messages per second one replica processes (rate-aware mode).",
        ),
        lambda v: v.throughput,
    ),
    (
        _Gauge(
            "qscaler_forecast_replicas",
            "Replicas the forecast of recurring load asks to have ready now (0: none due); "
            "applied unless the workload's forecast is in shadow mode.",
        ),
        lambda v: None if v.figures.forecast is None else v.figures.forecast.replicas,
    ),
    (
        _Gauge(
            "qscaler_forecast_period_seconds",
            "The recurring-load period learned from the publish rate (0: none learned).",
        ),
        lambda v: None if v.figures.forecast is None else v.figures.forecast.period_seconds or 0.0,
    ),
    (
        _Gauge(
            "qscaler_forecast_trust",
            "Trust in the next forecast, 0 to 1: halved by each burst that did not come.",
        ),
        lambda v: None if v.figures.forecast is None else v.figures.forecast.trust,
    ),
    (
        _Gauge(
            "qscaler_backlog_messages",
            "The backlog the policy sizes for (count and aggregate applied).",
        ),
        lambda v: v.backlog,
    ),
    (
        _replicas(
            "recommended",
            "Replicas the queue data asks for before stabilization, limits and holds.",
        ),
        lambda v: v.recommended,
    ),
)

_QUEUE_MESSAGES = _Gauge(
    "qscaler_queue_messages",
    "Messages in the workload's matched queues as last observed, by state.",
    ("state",),
)
_HELD_BACK = _Gauge(
    "qscaler_held_back",
    "1 while scaling is held back for this reason (e.g. Stabilizing, AtMax, "
    "SourceStale, Paused, DryRun, WriteFailed).",
    ("reason",),
)
_DRY_RUN = _Gauge(
    "qscaler_dry_run",
    "1 when the workload is in dry-run mode (decisions are reported, not written).",
)


class WorkloadGauges:
    """The collector of every per-workload gauge (module docstring)."""

    def __init__(self) -> None:
        self._shown = _Shown()

    def show(self, report: CycleReport, dry_run: bool) -> None:
        """Make `report` what scrapes show from now on. `dry_run`: the whole
        process only reports. A follower's report has no outcomes, so it shows
        no per-workload series: a process that lost the Lease must not keep
        serving its last view as if it were current."""
        before = self._shown.queues
        queues: dict[WorkloadRef, QueueView] = {}
        for outcome in report.outcomes:
            view = queue_view(outcome) or before.get(outcome.ref)
            if view is not None:
                queues[outcome.ref] = view
        self._shown = _Shown(report.outcomes, queues, dry_run)

    def collect(self) -> Iterator[Metric]:
        """Every per-workload family of the last cycle shown; each family is
        announced even without samples, as a labelled Gauge is."""
        shown = self._shown  # read once: the loop thread may replace it meanwhile
        families = _Families()
        for outcome in shown.outcomes:
            families.add(outcome, shown.queues.get(outcome.ref), shown.dry_run)
        yield from families.all()

    def describe(self) -> Iterator[Metric]:
        """The families' names, so the registry refuses a second collector of them."""
        return _Families().all()


class _Families:
    """One scrape's families, filled one workload at a time."""

    def __init__(self) -> None:
        self.of_the_cycle = [(gauge.family(), value) for gauge, value in _OF_THE_CYCLE]
        self.of_the_queues = [(gauge.family(), value) for gauge, value in _OF_THE_QUEUES]
        self.queue_messages = _QUEUE_MESSAGES.family()
        self.held_back = _HELD_BACK.family()
        self.dry_run = _DRY_RUN.family()

    def add(self, outcome: Outcome, queues: QueueView | None, dry_run: bool) -> None:
        """One workload's samples."""
        labels = [outcome.ref.namespace, outcome.ref.name, outcome.ref.kind]
        for family, value in self.of_the_cycle:
            _sample(family, labels, value(outcome))
        if queues is not None:
            self._add_queues(labels, queues)
        for reason in held_back(outcome):
            self.held_back.add_metric([*labels, reason], 1)
        if outcome.policy is not None:
            self.dry_run.add_metric(labels, 1 if _in_dry_run(outcome, dry_run) else 0)

    def _add_queues(self, labels: list[str], queues: QueueView) -> None:
        for family, value in self.of_the_queues:
            _sample(family, labels, value(queues))
        figures, messages = queues.figures, self.queue_messages
        messages.add_metric([*labels, "ready"], figures.messages_ready)
        messages.add_metric([*labels, "unacknowledged"], figures.messages_unacknowledged)

    def all(self) -> Iterator[Metric]:
        """The families, in the order `Metrics` registered them as Gauges."""
        yield self.queue_messages
        yield from (family for family, _ in self.of_the_queues)
        yield from (family for family, _ in self.of_the_cycle)
        yield self.held_back
        yield self.dry_run


def _sample(family: GaugeMetricFamily, labels: list[str], value: float | None) -> None:
    if value is not None:
        family.add_metric(labels, value)


def queue_view(outcome: Outcome) -> QueueView | None:
    """The outcome's queue view, or None when it has none to trust."""
    decision, observation = outcome.decision, outcome.observation
    if decision is None or observation is None or decision.reason in UNTRUSTED_DATA:
        return None
    d, figures = decision, decision.figures or QueueFigures()
    return QueueView(d.recommended, d.backlog, d.throughput, figures, len(observation.queues))


def held_back(outcome: Outcome) -> list[str]:
    """Every reason the workload's scaling is held back this cycle, each once."""
    reasons = []
    reason = outcome.reason
    if reason is not None and (reason in HELD_BACK or reason is Reason.WRITE_FAILED):
        reasons.append(reason.value)  # a refused write holds scaling back too
    if outcome.held is not None:
        reasons.append(outcome.held.value)
    if outcome.plan is not None and outcome.plan.capped_by_hpa:
        reasons.append(Hold.CAPPED_BY_HPA.value)
    return list(dict.fromkeys(reasons))


def _in_dry_run(outcome: Outcome, process_dry_run: bool) -> bool:
    """The process, the workload's mode or this cycle's hold says dry run."""
    policy = outcome.policy
    return (
        process_dry_run
        or (policy is not None and policy.mode is Mode.DRY_RUN)
        or outcome.held is Hold.DRY_RUN
    )
