"""qscaler against every tuned KEDA configuration: SIMULATION.md §4's v1.2 scores."""

from __future__ import annotations

import pytest

from qscaler.sim.frontier import Frontier, frontier
from qscaler.sim.scores import Scores
from tests.sim.made_scores import scored

OURS = scored(1000, 20, pod_starts=30)


@pytest.mark.parametrize(
    ("configurations", "expected"),
    [
        pytest.param([], Frontier(0, None, None, None), id="no configurations"),
        pytest.param(
            [scored(900, 50, pod_starts=10)],
            Frontier(0, None, None, None),
            id="cheaper but slower: none as fast",
        ),
        pytest.param(
            [scored(1000, 20, pod_starts=30)],
            Frontier(0, 0, 1.0, 1.0),
            id="equal is not dominating",
        ),
        pytest.param(
            [scored(999, 20, pod_starts=15)], Frontier(1, 0, 1000 / 999, 2.0), id="cheaper"
        ),
        pytest.param([scored(1000, 19, pod_starts=60)], Frontier(1, 0, 1.0, 0.5), id="faster"),
        pytest.param(
            [
                scored(2000, 5, pod_starts=60),
                scored(1500, 20, pod_starts=60),
                scored(1500, 10, pod_starts=20),
            ],
            Frontier(0, 1, 1000 / 1500, 0.5),
            id="cheapest as fast, ties to the first",
        ),
        pytest.param(
            [scored(500, 20, pod_starts=0)], Frontier(1, 0, 2.0, None), id="KEDA starts no pod"
        ),
    ],
)
def test_frontier(configurations: list[Scores], expected: Frontier) -> None:
    assert frontier(OURS, configurations) == expected
