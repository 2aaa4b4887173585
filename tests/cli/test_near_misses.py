"""Near misses of qscaler's names are reported, not silently ignored."""

from __future__ import annotations

import pytest

from qscaler.core.binding import parse_binding
from qscaler.errors import BindingError

BOUND = {"qscaler.io/queues": "orders", "qscaler.io/messages-per-replica": "100"}


def problems(**extra: str) -> str:
    with pytest.raises(BindingError) as raised:
        parse_binding({**BOUND, **extra})
    return str(raised.value)


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("qsclaer.io/max-replicas", "qscaler.io/max-replicas"),  # two letters swapped
        ("qscaler.com/max-replicas", "qscaler.io/max-replicas"),
        ("qscaler-io/cooldown", "qscaler.io/cooldown"),
        ("qscaler/cooldown", None),  # three edits away: another prefix
        ("qscalr.io/cooldown", "qscaler.io/cooldown"),
    ],
)
def test_an_annotation_prefix_within_two_edits_is_a_problem(key: str, meant: str | None) -> None:
    if meant is None:
        parse_binding({**BOUND, key: "5"})  # not a near miss of the prefix: ignored
        return
    text = problems(**{key: "5"})
    assert f"annotation {key} is not read: its prefix is not qscaler.io/" in text
    assert f"did you mean {meant}?" in text


def test_other_tools_annotations_are_left_alone() -> None:
    parse_binding(
        {
            **BOUND,
            "app.kubernetes.io/name": "orders",
            "deployment.kubernetes.io/revision": "3",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "argocd.argoproj.io/sync-wave": "1",
        }
    )


def test_a_huge_unknown_key_is_shortened_and_gets_no_far_fetched_suggestion() -> None:
    text = problems(**{"qscaler.io/" + "x" * 5_000_000: "1"})
    assert len(text) < 1000
    assert "did you mean" not in text
    assert "known: qscaler.io/queues" in text


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("qscaler.io/cooldwon", "did you mean qscaler.io/cooldown?"),
        ("qscaler.io/maxreplicas", "did you mean qscaler.io/max-replicas?"),
        ("qscaler.io/x", "known: "),  # nothing is close to "x": list them, suggest none
    ],
)
def test_suggestions_compare_what_follows_the_prefix(key: str, suggestion: str) -> None:
    assert suggestion in problems(**{key: "1"})


@pytest.mark.parametrize("spelling", ["dry-run", "dry_run", "DryRun", "DRY-RUN"])
def test_one_mode_whatever_its_spelling(spelling: str) -> None:
    assert parse_binding({**BOUND, "qscaler.io/mode": spelling}).mode.value == "dry-run"


@pytest.mark.parametrize(("written", "fraction"), [("0.1", 0.1), ("10%", 0.1), ("0%", 0.0)])
def test_tolerance_takes_a_percentage_like_the_limits(written: str, fraction: float) -> None:
    assert parse_binding({**BOUND, "qscaler.io/tolerance": written}).tolerance == fraction


def test_tolerance_above_90_percent_is_refused() -> None:
    assert 'qscaler.io/tolerance "95%" is not a fraction' in problems(
        **{"qscaler.io/tolerance": "95%"}
    )
