"""Best-tuned selection over the grid, with SIMULATION.md §5.11's tie rules."""

from __future__ import annotations

import pytest

from qscaler.sim.controllers import KedaKnobs, KedaMode
from qscaler.sim.scores import Scores
from qscaler.sim.trace import Trace
from qscaler.sim.tuning import GRID, best_index, best_tuned, keda_configurations
from qscaler.sim.world import Scenario, StatsSnapshot
from tests.sim.made_scores import scored


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        pytest.param(
            [scored(100, 10, True), scored(80, 50, True), scored(10, 90, False)],
            1,
            id="fewest replica-seconds among those meeting the SLO",
        ),
        pytest.param(
            [scored(50, 90, False), scored(80, 50, True), scored(80, 10, True)],
            1,
            id="equal replica-seconds: first in grid order, not lower p95",
        ),
        pytest.param(
            [scored(10, 90, False), scored(100, 70, False), scored(5, 80, False)],
            1,
            id="none meets: lowest p95",
        ),
        pytest.param(
            [scored(100, 70, False), scored(90, 70, False), scored(95, 70, False)],
            1,
            id="none meets, equal p95: fewest replica-seconds",
        ),
        pytest.param(
            [scored(90, 70, False), scored(90, 70, False)], 0, id="none meets, all equal: first"
        ),
    ],
)
def test_best_index(candidates: list[Scores], expected: int) -> None:
    assert best_index(candidates) == expected


def test_best_index_needs_a_candidate() -> None:
    with pytest.raises(ValueError, match="no candidates"):
        best_index([])


class Fixed:
    """Sets `replicas` at t0 and keeps them."""

    def __init__(self, replicas: int) -> None:
        self.replicas = replicas

    def act(self, now: int, snapshot: StatsSnapshot, spec_replicas: int) -> int:
        return self.replicas if now == 0 else spec_replicas


def test_best_tuned_runs_every_grid_value_and_keeps_the_cheapest_that_meets_the_slo() -> None:
    # 20/s for 200 s at 10/s per replica, no start-up. 1 replica: the backlog grows by 10/s,
    # p95 far above 60 s. 2 replicas: every message processed on arrival, 400 replica-s.
    # 5 and 10 also meet the SLO, with 1000 and 2000 replica-s.
    made: list[int] = []

    def controller_for(value: int) -> Fixed:
        made.append(value)
        return Fixed(value)

    tuned = best_tuned(
        Trace("steady", (20.0,) * 200),
        Scenario(startup_seconds=0),
        controller_for,
        grid=(1, 2, 5, 10),
    )

    assert made == [1, 2, 5, 10]
    assert [t.value for t in tuned.trials] == [1, 2, 5, 10]
    assert [t.scores.replica_seconds for t in tuned.trials] == [200, 400, 1000, 2000]
    assert not tuned.trials[0].scores.slo_met
    assert tuned.best.value == 2


def test_the_grid_is_the_one_the_spec_names() -> None:
    assert GRID == (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def test_keda_tuned_has_the_160_configurations_in_grid_order() -> None:
    configurations = keda_configurations()

    assert len(configurations) == len(set(configurations)) == 160
    assert configurations[0] == KedaKnobs(1, KedaMode.QUEUE_LENGTH, 0, 5, behavior=True)
    assert configurations[1] == KedaKnobs(1, KedaMode.QUEUE_LENGTH, 0, 30, behavior=True)
    assert configurations[2] == KedaKnobs(1, KedaMode.QUEUE_LENGTH, 60, 5, behavior=True)
    assert configurations[80] == KedaKnobs(2, KedaMode.MESSAGE_RATE, 0, 5, behavior=True)
    assert configurations[-1] == KedaKnobs(15, KedaMode.MESSAGE_RATE, 300, 30, behavior=True)
