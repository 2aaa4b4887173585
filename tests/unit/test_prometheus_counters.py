"""Counter increments per series: resets, vanished channels and gaps are
never a negative rate and never a spike."""

from __future__ import annotations

import pytest

from qscaler.sources.counters import CounterDeltas, Series
from qscaler.sources.prometheus_text import Counter

P = Counter.PUBLISHED


def series(**values: float) -> dict[Series, float]:
    """Published counters of queue q, one per channel name given."""
    return {(P, "q", channel): value for channel, value in values.items()}


@pytest.mark.parametrize(
    ("before", "after", "increment"),
    [
        pytest.param(series(a=10), series(a=25), 15, id="grows"),
        pytest.param(series(a=10), series(a=10), 0, id="idle"),
        pytest.param(series(a=10, b=5), series(a=12), 2, id="a-channel-closed"),
        pytest.param(series(a=10), series(a=12, b=3), 5, id="a-channel-opened"),
        pytest.param(series(a=1000), series(a=4), 4, id="reset-counts-from-zero"),
        pytest.param(series(a=1000), series(b=4), 4, id="node-restarted-new-channel-ids"),
    ],
)
def test_increment_per_queue(
    before: dict[Series, float], after: dict[Series, float], increment: float
) -> None:
    deltas = CounterDeltas()
    assert deltas.advance("v", "n", before) is None  # nothing to compare with yet
    assert deltas.advance("v", "n", after) == ({(P, "q"): increment} if after else {})


def test_after_a_failed_scrape_the_interval_is_unknown_not_a_spike() -> None:
    deltas = CounterDeltas()
    deltas.advance("v", "n", series(a=10))
    deltas.forget("v", "n")  # the node could not be read for a while
    assert deltas.advance("v", "n", series(a=5000)) is None
    assert deltas.advance("v", "n", series(a=5010)) == {(P, "q"): 10}


def test_nodes_and_vhosts_are_separate() -> None:
    deltas = CounterDeltas()
    deltas.advance("v", "n1", series(a=10))
    deltas.advance("v", "n2", series(a=100))
    deltas.advance("w", "n1", series(a=1))
    assert deltas.advance("v", "n1", series(a=11)) == {(P, "q"): 1}
    assert deltas.advance("v", "n2", series(a=103)) == {(P, "q"): 3}
    assert deltas.advance("w", "n1", series(a=2)) == {(P, "q"): 1}
