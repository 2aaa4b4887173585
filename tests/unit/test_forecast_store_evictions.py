"""Which entries of the forecast's ConfigMap go when it is full: the least recently written."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qscaler.core.workload import WorkloadRef
from qscaler.kube.forecast_store import entry_key, evictions


def test_nothing_goes_while_everything_fits() -> None:
    assert evictions({"a": (10, 1.0)}, {"b": "x" * 10}, 5.0, 100) == []


def test_the_oldest_go_first_until_it_fits() -> None:
    sizes = {"old": (50, 1.0), "older": (50, 0.5), "new": (50, 4.0)}
    # 3 x (50 + key) + the new entry: two must go, the two least recently written.
    assert evictions(sizes, {"mine": "x" * 50}, 5.0, 120) == ["older", "old"]


def test_an_entry_being_written_goes_last_but_can_go() -> None:
    assert evictions({}, {"a": "x" * 50, "b": "y" * 50}, 5.0, 60) == ["a"]


@given(
    sizes=st.dictionaries(
        st.text("abc", min_size=1, max_size=3),
        st.tuples(st.integers(0, 500), st.floats(0, 100)),
        max_size=20,
    ),
    limit=st.integers(0, 3000),
)
def test_what_is_left_fits_and_nothing_newer_goes_before_anything_older(
    sizes: dict[str, tuple[int, float]], limit: int
) -> None:
    dropped = evictions(sizes, {}, 200.0, limit)
    kept = {k: v for k, v in sizes.items() if k not in dropped}
    assert sum(len(k) + size for k, (size, _) in kept.items()) <= limit or not kept
    if dropped and kept:
        assert max(sizes[k][1] for k in dropped) <= min(at for _, at in kept.values())


def test_a_key_names_namespace_kind_and_workload() -> None:
    assert entry_key(WorkloadRef("shop", "a.b", "StatefulSet")) == "shop.StatefulSet.a.b"
