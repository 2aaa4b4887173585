"""Run every contender of the benchmark on one trace (docs/benchmark-model.md).

A contender is a controller and how it is set: KEDA and the bash autoscaler
best-tuned over the value grid, KEDA tuned over all four of its knobs (160
configurations, the best of them as a row and all of them for the frontier
scores), the static deployment, qscaler in backlog mode best-tuned over
`messages-per-replica`, and qscaler with one policy used unchanged for every
trace. `simulate` and `bench` both go through here, so a row of the benchmark
and a `qscaler simulate` of the same trace agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from qscaler.core.annotations import MESSAGES_PER_REPLICA
from qscaler.errors import ConfigError
from qscaler.sim.controllers import (
    HPA_STABILIZATION_SECONDS,
    KEDA_POLLING_SECONDS,
    Bounds,
    Controller,
    Keda,
    KedaKnobs,
    KedaMode,
    Onfido,
    static_replicas,
)
from qscaler.sim.frontier import Frontier, frontier
from qscaler.sim.qscaler_controller import QscalerController
from qscaler.sim.run import run, run_static
from qscaler.sim.scores import Scores, score
from qscaler.sim.trace import Trace
from qscaler.sim.tuning import KedaSweep, best_tuned, sweep_keda
from qscaler.sim.world import RunResult, Scenario


class Kind(StrEnum):
    """The controllers a trace can be simulated with."""

    QSCALER = "qscaler"
    KEDA = "keda"
    ONFIDO = "onfido"
    STATIC = "static"


#: The benchmark's row label of qscaler tuned over the grid in backlog mode.
QSCALER_BACKLOG = "qscaler-backlog"
#: The row label of the best of KEDA's 160 configurations.
KEDA_TUNED = "keda-tuned"


@dataclass(frozen=True, slots=True)
class KedaOptions:
    """How `qscaler simulate --controller keda` sets KEDA's other three knobs.

    A `window` given means the operator wrote an HPA `behavior` (see `KedaKnobs`).
    """

    mode: KedaMode = KedaMode.QUEUE_LENGTH
    window: int | None = None
    polling: int = KEDA_POLLING_SECONDS

    def knobs(self, value: float) -> KedaKnobs:
        """These options with trigger value `value`."""
        window = HPA_STABILIZATION_SECONDS if self.window is None else self.window
        return KedaKnobs(value, self.mode, window, self.polling, behavior=self.window is not None)


@dataclass(frozen=True, slots=True)
class Row:
    """One contender's run of one trace."""

    controller: str
    setting: str  # how it was set, in words: "value 500, best of the grid"
    result: RunResult
    scores: Scores


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every contender on one trace; `keda` and `qscaler` are the rows the ratios compare."""

    trace: Trace
    rows: tuple[Row, ...]
    sweep: KedaSweep
    frontier: Frontier

    def row(self, controller: str) -> Row:
        """The row of `controller`."""
        return next(r for r in self.rows if r.controller == controller)

    @property
    def keda(self) -> Row:
        """Best-tuned KEDA."""
        return self.row(Kind.KEDA)

    @property
    def keda_tuned(self) -> Row:
        """The best of KEDA's 160 configurations."""
        return self.row(KEDA_TUNED)

    @property
    def qscaler(self) -> Row:
        """qscaler with the policy under test."""
        return self.row(Kind.QSCALER)

    def ratio(self, name: str) -> float | None:
        """qscaler's score `name` over best-tuned KEDA's (None when KEDA's is 0)."""
        ours = float(getattr(self.qscaler.scores, name))
        theirs = float(getattr(self.keda.scores, name))
        if theirs == 0:
            return None if ours else 1.0
        return ours / theirs


def simulate(
    kind: Kind,
    trace: Trace,
    scenario: Scenario,
    bounds: Bounds,
    policy: Mapping[str, str],
    param: int | None = None,
    policy_name: str = "default policy",
    keda: KedaOptions = KedaOptions(),
) -> Row:
    """One controller on one trace; keda and onfido are best-tuned unless `param` is given.

    `policy` (named `policy_name` in the row) is qscaler's; `keda` sets KEDA's
    other knobs; each controller ignores what is not its own.
    """
    if param is not None and kind not in (Kind.KEDA, Kind.ONFIDO):
        raise ConfigError(f"--param sets keda's value or onfido's mesgPerPod, not {kind}")
    if param is not None and param <= 0:
        raise ConfigError(f"--param must be above 0, got {param}")
    if kind is Kind.QSCALER:
        result = run(trace, scenario, QscalerController(policy, bounds))
        return _row(kind, policy_name, result)
    if kind is Kind.STATIC:
        replicas = static_replicas(trace.rates, scenario.service_rate, bounds)
        noun = "replica" if replicas == 1 else "replicas"
        return _row(kind, f"{replicas} {noun}", run_static(trace, scenario, bounds))
    label = f"{keda.mode} value" if kind is Kind.KEDA else "mesgPerPod"
    extra = _keda_extra(keda) if kind is Kind.KEDA else ""

    def make(value: int) -> Controller:
        if kind is Kind.KEDA:
            return Keda(keda.knobs(value), bounds)
        return Onfido(value, bounds)

    if param is not None:
        return _row(kind, f"{label} {param}{extra}", run(trace, scenario, make(param)))
    best = best_tuned(trace, scenario, make).best
    return Row(kind, f"{label} {best.value}{extra}, best of the grid", best.result, best.scores)


def _keda_extra(keda: KedaOptions) -> str:
    parts = []
    if keda.window is not None:
        parts.append(f"window {keda.window} s")
    if keda.polling != KEDA_POLLING_SECONDS:
        parts.append(f"polling {keda.polling} s")
    return "".join(f", {p}" for p in parts)


def compare(
    trace: Trace,
    scenario: Scenario,
    bounds: Bounds,
    policy: Mapping[str, str],
    policy_name: str = "default policy",
) -> Comparison:
    """Every contender of the benchmark on `trace`."""
    sweep = sweep_keda(trace, scenario, bounds)
    ours = simulate(Kind.QSCALER, trace, scenario, bounds, policy, policy_name=policy_name)
    rows = [
        simulate(Kind.KEDA, trace, scenario, bounds, policy),
        _keda_tuned(sweep),
        simulate(Kind.ONFIDO, trace, scenario, bounds, policy),
        simulate(Kind.STATIC, trace, scenario, bounds, policy),
        _qscaler_backlog(trace, scenario, bounds),
        ours,
    ]
    return Comparison(trace, tuple(rows), sweep, frontier(ours.scores, sweep.scores))


def _keda_tuned(sweep: KedaSweep) -> Row:
    knobs = sweep.configurations[sweep.best]
    setting = f"{knobs.describe()}, best of 160"
    return Row(KEDA_TUNED, setting, sweep.best_result, sweep.scores[sweep.best])


def _qscaler_backlog(trace: Trace, scenario: Scenario, bounds: Bounds) -> Row:
    """qscaler in backlog mode, every other annotation at its default, best over the grid."""
    best = best_tuned(
        trace,
        scenario,
        lambda v: QscalerController({MESSAGES_PER_REPLICA: str(v)}, bounds),
    ).best
    setting = f"messages-per-replica {best.value}, best of the grid"
    return Row(QSCALER_BACKLOG, setting, best.result, best.scores)


def _row(controller: str, setting: str, result: RunResult) -> Row:
    return Row(controller, setting, result, score(result))
