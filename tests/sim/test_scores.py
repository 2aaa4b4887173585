"""The scores of SIMULATION.md §4, with §5's readings of percentiles and reversals."""

from __future__ import annotations

import pytest

from qscaler.sim.controllers import Static
from qscaler.sim.run import run
from qscaler.sim.scores import (
    Scores,
    count_pod_starts,
    count_reversals,
    max_wait,
    score,
    wait_percentile,
)
from qscaler.sim.trace import Trace
from qscaler.sim.world import ScaleChange, Scenario


@pytest.mark.parametrize(
    ("histogram", "percent", "expected"),
    [
        # 6 messages: 3 waited 0 s, 2 waited 1 s, 1 waited 2 s.
        pytest.param((3, 2, 1), 50, 0, id="p50 reached exactly at 3 of 6"),
        pytest.param((3, 2, 1), 51, 1, id="p51 needs the next bucket"),
        pytest.param((3, 2, 1), 95, 2, id="p95: 5 of 6 is only 83 %"),
        pytest.param((19, 1), 95, 0, id="p95: 19 of 20 reaches 95 % exactly"),
        pytest.param((0, 0, 4, 0), 50, 2, id="empty buckets are skipped"),
        pytest.param((0, 0, 0), 95, 0, id="no messages: 0"),
        pytest.param((0.5, 0.5), 50, 0, id="fluid amounts"),
    ],
)
def test_wait_percentile_is_the_weighted_inverse_cdf(
    histogram: tuple[float, ...], percent: int, expected: int
) -> None:
    assert wait_percentile(histogram, percent) == expected


@pytest.mark.parametrize(
    ("histogram", "expected"),
    [
        pytest.param((1, 0, 2, 0, 0), 2, id="last positive bucket"),
        pytest.param((0, 0, 0), 0, id="no messages"),
    ],
)
def test_max_wait_is_the_largest_wait_carried_by_messages(
    histogram: tuple[float, ...], expected: int
) -> None:
    assert max_wait(histogram) == expected


def up(at: int) -> ScaleChange:
    return ScaleChange(at, 1, 2)


def down(at: int) -> ScaleChange:
    return ScaleChange(at, 2, 1)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param((up(0), down(120)), 1, id="down exactly 120 s after up"),
        pytest.param((up(0), down(121)), 0, id="down 121 s after up"),
        pytest.param((down(0), up(60)), 1, id="up after down"),
        pytest.param((up(0), up(10)), 0, id="same direction"),
        pytest.param((up(0), up(100), down(150)), 1, id="measured from the previous change"),
        pytest.param((up(0), down(60), up(180)), 2, id="each change against the one before"),
        pytest.param((up(0), down(200), up(250)), 1, id="an old change does not count"),
        pytest.param((), 0, id="no changes"),
    ],
)
def test_reversals(changes: tuple[ScaleChange, ...], expected: int) -> None:
    assert count_reversals(changes) == expected


def tiny_run(slo_seconds: float) -> Scores:
    # 1 replica × 2/s over (5, 0, 0, 1): processed (2, 2, 1, 1), waits 0:3, 1:2, 2:1
    # (see test_world), backlog peaks at 3 after t0.
    the_scenario = Scenario(
        service_rate=2, startup_seconds=0, initial_replicas=1, slo_seconds=slo_seconds
    )
    return score(run(Trace("tiny", (5.0, 0.0, 0.0, 1.0)), the_scenario, Static()))


def test_scores_of_a_tiny_run() -> None:
    assert tiny_run(slo_seconds=60).as_dict() == {
        "replica_seconds": 4,
        "busy_seconds": 3.0,  # 6 messages ÷ 2 per second
        "utilization": 0.75,
        "p50_wait": 0,
        "p95_wait": 2,
        "p99_wait": 2,
        "max_wait": 2,
        "slo_met": True,
        "max_backlog": 3.0,
        "scale_changes": 0,
        "reversals": 0,
        "pod_starts": 0,
    }


@pytest.mark.parametrize(
    ("slo_seconds", "met"),
    [pytest.param(2, True, id="p95 equal to the SLO"), pytest.param(1, False, id="p95 above")],
)
def test_slo_is_met_when_p95_is_at_most_the_slo(slo_seconds: float, met: bool) -> None:
    assert tiny_run(slo_seconds).slo_met is met


def test_max_backlog_includes_what_is_left_at_the_end() -> None:
    # 5 arrive in the only second, 2 are processed: backlog(0) = 0, backlog(1) = 3.
    scores = score(run(Trace("end", (5.0,)), Scenario(service_rate=2), Static()))

    assert scores.max_backlog == 3
    assert scores.p50_wait == 1  # the 3 left count as waiting len(trace) − 0 = 1 s


def test_an_idle_workload_at_zero_scores_zero() -> None:
    scores = score(run(Trace("idle", (0.0, 0.0)), Scenario(initial_replicas=0), Static()))

    assert scores.as_dict() == {
        "replica_seconds": 0,
        "busy_seconds": 0.0,
        "utilization": 0.0,
        "p50_wait": 0,
        "p95_wait": 0,
        "p99_wait": 0,
        "max_wait": 0,
        "slo_met": True,
        "max_backlog": 0.0,
        "scale_changes": 0,
        "reversals": 0,
        "pod_starts": 0,
    }


def test_pod_starts_count_every_replica_added() -> None:
    changes = (ScaleChange(0, 0, 3), ScaleChange(10, 3, 1), ScaleChange(20, 1, 5))

    assert count_pod_starts(changes) == 3 + 4


def test_scores_count_only_from_score_from() -> None:
    # 1 replica × 2/s. Messages arriving before t2 are history: 4 at t0 wait 0, 0, 1, 1 s;
    # the 2 arriving at t3 are processed at t3 with no wait (the history is gone by then).
    trace = Trace("late", (4.0, 0.0, 0.0, 2.0))
    scenario = Scenario(service_rate=2, startup_seconds=0, initial_replicas=1, score_from=2)

    scores = score(run(trace, scenario, Static()))

    assert scores.replica_seconds == 2
    assert scores.busy_seconds == 1.0  # t2 processes nothing, t3 processes 2 at 2/s
    assert scores.max_wait == 0
    assert scores.max_backlog == 0.0


def test_changes_before_score_from_are_not_counted_but_can_be_reversed() -> None:
    changes = (ScaleChange(50, 1, 4), ScaleChange(110, 4, 2), ScaleChange(300, 2, 3))

    assert count_reversals(changes, since=100) == 1
    assert count_pod_starts([c for c in changes if c.at >= 100]) == 1
