"""Best-tuned competitors: the fairest setting of KEDA's value or the script's M.

A competitor with a badly chosen constant would make qscaler look good for
the wrong reason, so the benchmark reports each one at the grid value that
suits the trace best (docs/benchmark-model.md), with its tie rules. qscaler is
not tuned per trace; that asymmetry is the point of the comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qscaler.sim.controllers import Bounds, Controller, Keda, KedaKnobs, KedaMode
from qscaler.sim.run import run
from qscaler.sim.scores import Scores, score
from qscaler.sim.trace import Trace
from qscaler.sim.world import RunResult, Scenario

GRID = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


@dataclass(frozen=True, slots=True)
class Trial:
    """One grid value, its run and its scores."""

    value: int
    result: RunResult
    scores: Scores


@dataclass(frozen=True, slots=True)
class Tuned:
    """The chosen trial and every trial, in grid order."""

    best: Trial
    trials: tuple[Trial, ...]


def best_tuned(
    trace: Trace,
    scenario: Scenario,
    controller_for: Callable[[int], Controller],
    grid: Sequence[int] = GRID,
) -> Tuned:
    """Run a fresh controller for every grid value and choose the best-tuned one."""
    trials = []
    for value in grid:
        result = run(trace, scenario, controller_for(value))
        trials.append(Trial(value=value, result=result, scores=score(result)))
    best = trials[best_index([t.scores for t in trials])]
    return Tuned(best=best, trials=tuple(trials))


def best_index(candidates: Sequence[Scores]) -> int:
    """The position of the best-tuned candidate, candidates being in grid order (§5.11).

    Among those that meet the SLO, the fewest replica-seconds; if none does,
    the lowest p95 wait, then the fewest replica-seconds. Remaining ties go to
    the earliest position.
    """
    if not candidates:
        raise ValueError("no candidates to choose from")
    positions = range(len(candidates))
    meeting = [i for i in positions if candidates[i].slo_met]
    if meeting:
        return min(meeting, key=lambda i: (candidates[i].replica_seconds, i))
    return min(positions, key=lambda i: (candidates[i].p95_wait, candidates[i].replica_seconds, i))


#: keda-tuned's knobs (§3, v1.2): MessageRate values, windows and polling intervals.
MESSAGE_RATE_GRID = (2, 4, 5, 6, 7, 8, 9, 10, 12, 15)
WINDOW_GRID = (0, 60, 150, 300)
POLLING_GRID = (5, 30)


def keda_configurations() -> tuple[KedaKnobs, ...]:
    """The 160 configurations of keda-tuned, in grid order (§5.15).

    QueueLength before MessageRate, then value, window and polling, each
    ascending. Every one sets an HPA `behavior` (the window).
    """
    return tuple(
        KedaKnobs(value, mode, window, polling, behavior=True)
        for mode, values in (
            (KedaMode.QUEUE_LENGTH, GRID),
            (KedaMode.MESSAGE_RATE, MESSAGE_RATE_GRID),
        )
        for value in values
        for window in WINDOW_GRID
        for polling in POLLING_GRID
    )


@dataclass(frozen=True, slots=True)
class KedaSweep:
    """Every keda-tuned configuration's scores, the best one (§5.11) and its run."""

    configurations: tuple[KedaKnobs, ...]
    scores: tuple[Scores, ...]
    best: int
    best_result: RunResult


def sweep_keda(trace: Trace, scenario: Scenario, bounds: Bounds) -> KedaSweep:
    """Run KEDA with every configuration of `keda_configurations` on `trace`.

    Only the scores are kept (160 runs' series would be large); the best
    configuration is run again for its series.
    """
    configurations = keda_configurations()
    scores = tuple(score(run(trace, scenario, Keda(k, bounds))) for k in configurations)
    best = best_index(scores)
    best_result = run(trace, scenario, Keda(configurations[best], bounds))
    return KedaSweep(configurations, scores, best, best_result)
