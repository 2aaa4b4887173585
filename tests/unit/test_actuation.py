"""The write plan: scale subresource without an HPA, HPA floor with one."""

from __future__ import annotations

import pytest

from qscaler.core.actuation import (
    Plan,
    baseline,
    held_count,
    hpas_by_target,
    plan,
    plan_release,
)
from qscaler.core.workload import Hpa, Workload, WorkloadRef

REF = WorkloadRef("ns", "w")


def workload(replicas: int) -> Workload:
    return Workload(REF, replicas)


def hpa(
    min_replicas: int = 2,
    max_replicas: int = 8,
    original: int | None = None,
    raised: int | None = None,
) -> Hpa:
    return Hpa(
        "ns", "w-hpa", REF, min_replicas, max_replicas, original_min=original, raised_min=raised
    )


@pytest.mark.parametrize(
    ("desired", "replicas", "expected"),
    [
        pytest.param(5, 3, Plan(applied=5, desired=5, replicas=5), id="scale-up"),
        pytest.param(3, 3, Plan(applied=3, desired=3), id="no-write-when-equal"),
        pytest.param(0, 3, Plan(applied=0, desired=0, replicas=0), id="scale-to-zero"),
    ],
)
def test_without_hpa_writes_replicas_only_when_they_differ(
    desired: int, replicas: int, expected: Plan
) -> None:
    assert plan(desired, workload(replicas), None) == expected


@pytest.mark.parametrize(
    ("desired", "replicas", "the_hpa", "expected"),
    [
        pytest.param(
            5,
            3,
            hpa(),
            Plan(applied=5, desired=5, hpa_floor=5, hpa_original=2),
            id="raise-floor-remembering-original",
        ),
        pytest.param(
            5,
            6,
            hpa(5, 8, original=2, raised=5),
            Plan(applied=5, desired=5, hpa_original=2),
            id="floor-already-set",
        ),
        pytest.param(
            5,
            6,
            hpa(5, 8, original=2),
            Plan(applied=5, desired=5, hpa_floor=5, hpa_original=2),
            id="floor-set-by-an-older-qscaler-is-recorded-once",
        ),
        pytest.param(
            12,
            8,
            hpa(),
            Plan(applied=8, desired=12, hpa_floor=8, hpa_original=2, capped_by_hpa=True),
            id="capped-by-hpa-max",
        ),
        pytest.param(
            1,
            4,
            hpa(5, 8, original=2),
            Plan(applied=2, desired=1, restore_hpa=True),
            id="restore-when-demand-falls",
        ),
        pytest.param(2, 4, hpa(), Plan(applied=2, desired=2), id="at-original-nothing-to-do"),
        pytest.param(
            0,
            4,
            hpa(5, 8, original=2),
            Plan(applied=0, desired=0, replicas=0, restore_hpa=True),
            id="to-zero-parks-the-hpa",
        ),
        pytest.param(
            3,
            0,
            hpa(),
            Plan(applied=3, desired=3, replicas=3, hpa_floor=3, hpa_original=2),
            id="wake-from-zero",
        ),
        pytest.param(
            1, 0, hpa(), Plan(applied=2, desired=1, replicas=2), id="wake-to-the-hpa-floor"
        ),
    ],
)
def test_with_hpa_never_fights_it(
    desired: int, replicas: int, the_hpa: Hpa, expected: Plan
) -> None:
    assert plan(desired, workload(replicas), the_hpa) == expected


def test_held_count_is_the_floor_under_an_hpa() -> None:
    assert held_count(workload(7), None) == 7
    assert held_count(workload(7), hpa(3, 8)) == 3
    assert held_count(workload(0), hpa(3, 8)) == 0


def test_release_restores_only_floors_qscaler_raised() -> None:
    assert plan_release(hpa(5, 8, original=2)) == Plan(applied=2, desired=2, restore_hpa=True)
    assert plan_release(hpa(5, 8)) is None


def test_a_plan_writes_when_anything_changes() -> None:
    assert not Plan(applied=3).writes
    assert Plan(applied=3, replicas=3).writes
    assert Plan(applied=3, hpa_floor=3).writes
    assert Plan(applied=3, restore_hpa=True).writes


@pytest.mark.parametrize(
    ("desired", "the_hpa", "expected"),
    [
        pytest.param(
            6,
            hpa(4, 8, original=2, raised=6),
            Plan(applied=6, desired=6, hpa_floor=6, hpa_original=4),
            id="lowered-by-hand-below-demand-queue-floor-again-over-the-new-original",
        ),
        pytest.param(
            6,
            hpa(7, 8, original=2, raised=6),
            Plan(applied=7, desired=6, restore_hpa=True),
            id="raised-by-hand-above-demand-handed-back-at-the-new-value",
        ),
        pytest.param(
            1,
            hpa(3, 8, original=2, raised=6),
            Plan(applied=3, desired=1, restore_hpa=True),
            id="demand-falls-after-an-edit-restores-the-edit-not-the-old-original",
        ),
    ],
)
def test_an_edited_min_replicas_becomes_the_original(
    desired: int, the_hpa: Hpa, expected: Plan
) -> None:
    assert plan(desired, workload(6), the_hpa) == expected


def test_baseline_is_the_owners_floor() -> None:
    assert baseline(hpa(3, 8)) == 3  # not raised: minReplicas is the owner's
    assert baseline(hpa(6, 8, original=2, raised=6)) == 2  # still qscaler's floor
    assert baseline(hpa(4, 8, original=2, raised=6)) == 4  # edited
    assert baseline(hpa(6, 8, original=2)) == 2  # raised before floors were recorded


def test_release_after_an_edit_restores_the_edit() -> None:
    assert plan_release(hpa(4, 8, original=2, raised=6)) == Plan(
        applied=4, desired=4, restore_hpa=True
    )


def test_two_hpas_on_one_workload_hold_it_with_a_reason() -> None:
    other = WorkloadRef("ns", "other")
    first, second = hpa(), Hpa("ns", "a-second", REF, 1, 4)
    alone = Hpa("ns", "other-hpa", other, 1, 4)
    by_target, errors = hpas_by_target([first, second, alone])
    assert by_target == {REF: second, other: alone}
    assert set(errors) == {REF}
    assert "HPAs a-second, w-hpa all target this Deployment" in str(errors[REF])
    assert "AmbiguousSelector" in str(errors[REF])
