"""KEDA's RabbitMQ scaler and default HPA, as SIMULATION.md §3 and §5 read them.

The controller is called directly with hand-made snapshots: only `messages`
(ready + unacknowledged) matters to it, so the snapshots carry ready messages only.
"""

from __future__ import annotations

import pytest

from qscaler.sim.controllers import Bounds, Keda, KedaKnobs, KedaMode
from qscaler.sim.run import run
from qscaler.sim.scores import score
from qscaler.sim.trace import Trace
from qscaler.sim.world import ScaleChange, Scenario, StatsSnapshot


def showing(messages: float, publish_rate: float = 0) -> StatsSnapshot:
    return StatsSnapshot(
        taken_at=0,
        messages_ready=messages,
        messages_unacknowledged=0,
        publish_rate=publish_rate,
        ack_rate=0,
        consumers=0,
    )


def drive(keda: Keda, spec: int, calls: list[tuple[int, float]]) -> list[int]:
    """Call keda at each (second, messages), feeding back what it returns as spec."""
    outputs = []
    for now, messages in calls:
        spec = keda.act(now, showing(messages), spec)
        outputs.append(spec)
    return outputs


@pytest.mark.parametrize(
    ("spec", "messages", "expected"),
    [
        # 10·|44 − 40| = 40 ≤ 40: inside, although 44/40 − 1 computes as 0.10000000000000009.
        pytest.param(4, 44, 4, id="exactly +10 % holds"),
        pytest.param(4, 45, 5, id="above +10 % scales to ceil(4.5)"),
        pytest.param(10, 90, 10, id="exactly -10 % holds"),
        pytest.param(10, 89, 9, id="below -10 % scales to ceil(8.9)"),
    ],
)
def test_tolerance_is_ten_percent_inclusive(spec: int, messages: float, expected: int) -> None:
    keda = Keda(10, Bounds(min_replicas=1, max_replicas=50))

    assert keda.act(15, showing(messages), spec) == expected


@pytest.mark.parametrize(
    ("spec", "messages", "behavior", "expected"),
    [
        pytest.param(1, 3, False, 3, id="below the cap"),
        pytest.param(1, 100, False, 4, id="no behavior: from 1 to 4"),
        pytest.param(4, 100, False, 8, id="no behavior: 4 doubles"),
        pytest.param(2, 100, True, 6, id="behavior: small counts add 4"),
        pytest.param(10, 100, False, 20, id="larger counts double"),
        pytest.param(10, 100, True, 20, id="behavior: larger counts double"),
        pytest.param(30, 1000, False, 50, id="never above max_replicas"),
    ],
)
def test_scale_up_is_immediate_but_capped(
    spec: int, messages: float, behavior: bool, expected: int
) -> None:
    keda = Keda(KedaKnobs(1, behavior=behavior), Bounds(min_replicas=1, max_replicas=50))

    assert keda.act(15, showing(messages), spec) == expected


def test_plain_keda_climbs_as_a_real_hpa_without_behavior_does() -> None:
    # Measured on a real KEDA with a real HPA (SIMULATION.md §3): 1 → 4 → 8 → 16 → 32.
    keda = Keda(1, Bounds(min_replicas=1, max_replicas=50))

    assert drive(keda, 1, [(t, 1000.0) for t in (15, 30, 45, 60)]) == [4, 8, 16, 32]


def test_the_hpa_acts_only_every_15_seconds() -> None:
    keda = Keda(1, Bounds(min_replicas=1, max_replicas=50))

    assert keda.act(14, showing(100), 2) == 2
    assert keda.act(16, showing(100), 2) == 2
    assert keda.act(15, showing(100), 2) == 4


def test_scale_down_waits_for_the_highest_recommendation_of_300_seconds() -> None:
    # Recommendations: 10 at t0, 5 at t150, 1 from then on (value 10).
    # t300: window (0, 300] has 5 → 5. t450: window (150, 450] has only 1s → 1.
    keda = Keda(10, Bounds(min_replicas=1, max_replicas=50))
    calls = [(0, 100.0)] + [(t, 50.0 if t == 150 else 10.0) for t in range(15, 451, 15)]

    outputs = dict(zip([t for t, _ in calls], drive(keda, 10, calls), strict=True))

    assert {t: outputs[t] for t in (0, 150, 285, 300, 435, 450)} == {
        0: 10,
        150: 10,
        285: 10,
        300: 5,
        435: 5,
        450: 1,
    }


def test_recommendations_made_before_the_workload_sat_at_0_are_kept() -> None:
    # t15: 50 messages for 5 → recommendation 5. The workload is at 0 at t30 (woken to 1),
    # then at 3 at t45 with 10 messages → recommendation 1, but 5 from t15 is in the window.
    keda = Keda(10, Bounds(min_replicas=0, max_replicas=50))

    assert keda.act(15, showing(50), 5) == 5
    assert keda.act(30, showing(10), 0) == 1
    assert keda.act(45, showing(10), 3) == 3


def test_the_hpa_does_not_act_at_zero_replicas() -> None:
    keda = Keda(1, Bounds(min_replicas=0, max_replicas=50))

    assert keda.act(15, showing(100), 0) == 0


def test_the_operator_wakes_a_workload_at_zero_on_its_30_second_poll() -> None:
    keda = Keda(10, Bounds(min_replicas=0, max_replicas=50))

    assert keda.act(30, showing(1), 0) == 1
    assert keda.act(60, showing(0), 0) == 0


@pytest.mark.parametrize(
    ("min_replicas", "expected"),
    [pytest.param(0, 0, id="min 0: to 0 at t0"), pytest.param(1, 1, id="min 1: stays")],
)
def test_a_workload_never_active_goes_to_zero_at_once(min_replicas: int, expected: int) -> None:
    keda = Keda(10, Bounds(min_replicas=min_replicas, max_replicas=50))

    assert keda.act(0, showing(0), 1) == expected


def test_scale_to_zero_after_300_seconds_without_an_active_poll() -> None:
    # Active at the t30 poll only. t300: window (0, 300] still has t30 → 1.
    # t330: window (30, 330] has no active poll → 0. The HPA keeps 1 meanwhile.
    keda = Keda(10, Bounds(min_replicas=0, max_replicas=50))
    calls = [(30, 5.0)] + [(t, 0.0) for t in range(45, 331, 15)]

    outputs = dict(zip([t for t, _ in calls], drive(keda, 0, calls), strict=True))

    assert {t: outputs[t] for t in (30, 45, 300, 315, 330)} == {
        30: 1,
        45: 1,
        300: 1,
        315: 1,
        330: 0,
    }


def test_in_the_world_keda_at_min_0_starts_by_scaling_to_0() -> None:
    # Nothing is ever published: scaled to 0 at t0, nothing billed after that.
    result = run(
        Trace("idle", (0.0,) * 60), Scenario(), Keda(10, Bounds(min_replicas=0, max_replicas=50))
    )

    assert result.changes == (ScaleChange(0, 1, 0),)
    assert score(result).replica_seconds == 0
    assert score(result).utilization == 0.0


def test_message_rate_mode_sizes_for_the_publish_rate_not_the_queue() -> None:
    keda = Keda(KedaKnobs(10, KedaMode.MESSAGE_RATE), Bounds(min_replicas=0, max_replicas=50))

    assert keda.act(15, showing(messages=5000, publish_rate=30), 2) == 3


def test_message_rate_mode_is_active_while_messages_are_published() -> None:
    # Nothing queued but 4/s published: the MessageRate trigger is active, QueueLength is not.
    bounds = Bounds(min_replicas=0, max_replicas=50)
    by_rate = Keda(KedaKnobs(10, KedaMode.MESSAGE_RATE), bounds)
    by_depth = Keda(KedaKnobs(10, KedaMode.QUEUE_LENGTH), bounds)

    assert by_rate.act(30, showing(0, publish_rate=4), 0) == 1
    assert by_depth.act(30, showing(0, publish_rate=4), 0) == 0


def test_a_zero_window_scales_down_to_the_recommendation_at_once() -> None:
    keda = Keda(KedaKnobs(10, window=0, behavior=True), Bounds(min_replicas=1, max_replicas=50))

    assert drive(keda, 10, [(15, 100.0), (30, 20.0), (45, 20.0)]) == [10, 2, 2]


def test_a_60_second_window_keeps_the_highest_of_the_last_minute() -> None:
    # Recommendations 10 (t15), 2 (t30 …): the 10 leaves the window (t − 60, t] at t75.
    keda = Keda(KedaKnobs(10, window=60, behavior=True), Bounds(min_replicas=1, max_replicas=50))
    calls = [(15, 100.0)] + [(t, 20.0) for t in range(30, 91, 15)]

    assert drive(keda, 10, calls) == [10, 10, 10, 10, 2, 2]


@pytest.mark.parametrize(
    ("polling", "now", "expected"),
    [
        pytest.param(5, 5, 1, id="polling 5: wakes at t5"),
        pytest.param(30, 5, 0, id="polling 30: not at t5"),
        pytest.param(30, 30, 1, id="polling 30: wakes at t30"),
    ],
)
def test_the_operator_polls_at_its_polling_interval(polling: int, now: int, expected: int) -> None:
    keda = Keda(KedaKnobs(10, polling=polling), Bounds(min_replicas=0, max_replicas=50))

    assert keda.act(now, showing(1), 0) == expected
