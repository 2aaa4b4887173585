"""Rate smoothing and queue selection."""

from __future__ import annotations

import math
from typing import cast

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from qscaler.core.model import QueueStats, VhostSnapshot
from qscaler.core.policy import QueueSelector
from qscaler.core.rates import RateSmoother
from qscaler.core.select import QueueMatcher, VhostNames, VhostView, observe


def snapshot(at: float, **queues: tuple[int, float | None]) -> VhostSnapshot:
    stats = {
        n: QueueStats(n, ready, 0, 1, publish_rate=rate, ack_rate=rate)
        for n, (ready, rate) in queues.items()
    }
    return VhostSnapshot("/", stats, read_at=at)


def test_smoothing_weights_by_elapsed_time() -> None:
    smoother = RateSmoother(time_constant_seconds=10)
    assert smoother.smooth(snapshot(0, q=(0, 100.0)))["q"].publish_rate == 100
    later = smoother.smooth(snapshot(10, q=(0, 0.0)))["q"].publish_rate
    assert later == pytest.approx(100 * math.exp(-1))


def test_a_spike_after_a_broker_restart_is_damped() -> None:
    smoother = RateSmoother(time_constant_seconds=15)
    for t in range(0, 60, 5):
        smoother.smooth(snapshot(t, q=(0, 10.0)))
    spiked = smoother.smooth(snapshot(60, q=(0, 10_000.0)))["q"].publish_rate
    assert spiked is not None
    assert spiked < 3000


def test_missing_rates_keep_the_last_estimate_and_zero_constant_disables() -> None:
    smoother = RateSmoother(time_constant_seconds=0)
    smoother.smooth(snapshot(0, q=(0, 5.0)))
    assert smoother.smooth(snapshot(5, q=(0, None)))["q"].publish_rate == 5.0
    assert smoother.smooth(snapshot(10, q=(0, 7.0)))["q"].publish_rate == 7.0


def test_unknown_unacknowledged_counts_as_zero() -> None:
    snap = VhostSnapshot("/", {"q": QueueStats("q", 3, None, 1)}, read_at=0)
    assert RateSmoother().smooth(snap)["q"].messages_unacknowledged == 0


def view(*names: str, at: float = 1.0) -> VhostView:
    snap = VhostSnapshot("/", {n: QueueStats(n, 1, 0, 1) for n in names}, read_at=at)
    return VhostView.of(snap, RateSmoother().smooth(snap))


def test_observe_picks_names_and_pattern_matches_once_each() -> None:
    selector = QueueSelector(
        "/", names=("a",), patterns=(regex.compile("^jobs-"), regex.compile("-1$"))
    )
    obs = observe(selector, view("a", "b", "jobs-1", "jobs-2"), QueueMatcher())
    assert [q.name for q in obs.queues] == ["a", "jobs-1", "jobs-2"]
    assert obs.observed_at == 1.0
    assert obs.missing == ()


def test_observe_reports_missing_names_and_unread_vhosts() -> None:
    obs = observe(QueueSelector("/", names=("a", "gone")), view("a"), QueueMatcher())
    assert obs.missing == ("gone",)
    assert observe(QueueSelector("/", names=("a",)), None, QueueMatcher()).observed_at is None


class CountingPattern:
    """A compiled pattern that notes every name it is asked to search."""

    def __init__(self, source: str) -> None:
        self.compiled = regex.compile(source)
        self.pattern = source
        self.searched: list[str] = []

    def search(self, name: str, timeout: float | None = None) -> object:
        self.searched.append(name)
        return self.compiled.search(name, timeout=timeout)


def counting(source: str) -> tuple[CountingPattern, regex.Pattern[str]]:
    pattern = CountingPattern(source)
    return pattern, cast("regex.Pattern[str]", pattern)


def test_matches_are_cached_while_the_names_stay_the_same() -> None:
    matcher = QueueMatcher()
    spy, pattern = counting("^x")
    names = VhostNames.of(["x1", "y"])
    assert matcher.matching("/", pattern, names) == ("x1",)
    assert matcher.matching("/", pattern, VhostNames.of(["y", "x1"])) == ("x1",)
    assert spy.searched == ["x1", "y"]  # the second call searched nothing


def test_only_names_that_appeared_are_searched_and_names_that_left_are_dropped() -> None:
    matcher = QueueMatcher()
    spy, pattern = counting("^x")
    assert matcher.matching("/", pattern, VhostNames.of(["x1", "x3", "y"])) == ("x1", "x3")
    spy.searched.clear()
    after = VhostNames.of(["x1", "x2", "y", "reply-1"])  # x3 deleted, x2 and reply-1 created
    assert matcher.matching("/", pattern, after) == ("x1", "x2")
    assert sorted(spy.searched) == ["reply-1", "x2"]


def test_the_cache_is_per_vhost() -> None:
    matcher = QueueMatcher()
    pattern = regex.compile("^x")
    assert matcher.matching("a", pattern, VhostNames.of(["x1"])) == ("x1",)
    assert matcher.matching("b", pattern, VhostNames.of(["x2"])) == ("x2",)


def test_matches_of_patterns_no_binding_uses_are_forgotten() -> None:
    matcher = QueueMatcher()
    names = VhostNames.of(["x1", "y1"])
    matcher.matching("/", regex.compile("^x"), names)
    matcher.matching("/", regex.compile("^y"), names)
    matcher.keep_only({("/", "^y")})
    assert len(matcher) == 1


name_sets = st.lists(
    st.frozensets(st.text(alphabet="xyz.1", min_size=1, max_size=4), max_size=12),
    min_size=1,
    max_size=8,
)


@given(name_sets)
def test_following_the_names_gives_what_matching_them_afresh_gives(
    history: list[frozenset[str]],
) -> None:
    matcher = QueueMatcher()
    pattern = regex.compile(r"^x.*1$")
    for names in history:
        expected = tuple(n for n in sorted(names) if pattern.search(n))
        assert matcher.matching("/", pattern, VhostNames.of(names)) == expected


def test_a_catastrophic_pattern_is_an_error_for_its_workload_only() -> None:
    evil = regex.compile(r"^(a|a)*$")  # exponential backtracking, even in `regex`
    selector = QueueSelector("/", patterns=(evil,))
    obs = observe(selector, view("a" * 40 + "!"), QueueMatcher(budget_seconds=0.05))
    assert obs.error is not None
    assert "took over" in obs.error


def test_unreadable_names_and_incomplete_listings_hold_only_the_bindings_they_touch() -> None:
    """A node down (Prometheus source): a name it may host, or a re: over a
    vhost whose list is incomplete, is an error (hold); other names read on."""
    snap = VhostSnapshot(
        "/",
        {"a": QueueStats("a", 1, 0, 1)},
        1.0,
        unreadable={"b": "node x down"},
        incomplete="node x down",
    )
    partial = VhostView.of(snap, RateSmoother().smooth(snap))
    held = observe(QueueSelector("/", names=("a", "b")), partial, QueueMatcher())
    assert held.error is not None
    assert "node x down" in held.error
    pattern = QueueSelector("/", patterns=(regex.compile("a"),))
    assert observe(pattern, partial, QueueMatcher()).error is not None
    fine = observe(QueueSelector("/", names=("a",)), partial, QueueMatcher())
    assert fine.error is None
    assert [q.name for q in fine.queues] == ["a"]
