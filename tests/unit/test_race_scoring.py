"""The live race scores its arms exactly as the simulator scores a run (bench/race)."""

from __future__ import annotations

from bench.race.emulator import WaitBook, _cumulative_whole
from bench.race.score import changes_of, score_arm
from qscaler.sim.controllers import Bounds, Keda
from qscaler.sim.run import run
from qscaler.sim.scores import score
from qscaler.sim.trace import Trace
from qscaler.sim.world import Scenario


def test_a_message_still_queued_waits_until_the_end() -> None:
    book = WaitBook(seconds=10)
    for _ in range(3):
        book.published(2)
    book.started("a", arrival=2, start=5)
    assert book.histogram() == [0, 0, 0, 1, 0, 0, 0, 0, 2]  # 1 waited 3 s; 2 wait 10 − 2
    assert book.still_queued() == 2


def test_a_redelivered_message_counts_once_at_its_first_start() -> None:
    book = WaitBook(seconds=10)
    book.published(0)
    book.started("m", arrival=0, start=1)
    book.started("m", arrival=0, start=4)  # its consumer went away; redelivered
    assert book.histogram() == [0, 1]


def test_changes_start_from_one_replica_like_the_scenario() -> None:
    changes = changes_of([1, 1, 4, 4, 2, 0])
    assert [(c.at, c.before, c.after) for c in changes] == [(2, 1, 4), (4, 4, 2), (5, 2, 0)]


def test_fractional_rates_carry_over_to_whole_messages() -> None:
    assert _cumulative_whole([0.5, 0.5, 2.0, 0.25]) == [0, 0, 1, 3, 3]


def test_live_scores_equal_the_simulators_for_the_same_series() -> None:
    """Replay a simulated KEDA run through the live scorer: every shared score matches."""
    trace = Trace(name="burst", rates=tuple([0.0] * 20 + [40.0] * 30 + [0.0] * 250))
    result = run(trace, Scenario(), Keda(20, Bounds(0, 50)))
    book = WaitBook(seconds=len(trace))
    for arrival, count in _arrivals(result.trace.rates):
        for _ in range(count):
            book.published(arrival)
    message = 0
    for wait, waited in enumerate(result.wait_histogram):  # a float: messages that waited `wait`
        for _ in range(round(waited)):
            book.started(str(message), arrival=0, start=wait)
            message += 1
    live, simulated = score_arm(result.replicas, book, 60.0), score(result)
    for name in (
        "replica_seconds",
        "p50_wait",
        "p95_wait",
        "p99_wait",
        "max_wait",
        "slo_met",
        "scale_changes",
        "reversals",
    ):
        assert getattr(live, name) == getattr(simulated, name), name
    assert live.pod_starts == sum(max(0, c.after - c.before) for c in result.changes)


def _arrivals(rates: tuple[float, ...]) -> list[tuple[int, int]]:
    return [(0, round(sum(rates)))]
