"""The bash autoscaler (onfido) and the static baseline, as SIMULATION.md §3 and §5 read them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qscaler.errors import ConfigError
from qscaler.sim.controllers import Bounds, Keda, Onfido, static_replicas
from qscaler.sim.run import run_static
from qscaler.sim.scores import score
from qscaler.sim.trace import Trace
from qscaler.sim.world import Scenario, StatsSnapshot


def showing(messages: float) -> StatsSnapshot:
    return StatsSnapshot(
        taken_at=0,
        messages_ready=messages,
        messages_unacknowledged=0,
        publish_rate=0,
        ack_rate=0,
        consumers=0,
    )


@pytest.mark.parametrize(
    ("spec", "messages", "expected"),
    [
        pytest.param(1, 59, 5, id="up to floor(59 / 10)"),
        pytest.param(5, 59, 5, id="floor equals spec: no change"),
        pytest.param(1, 10_000, 50, id="clamped to max_replicas"),
        pytest.param(10, 10, 9, id="down by 10 %: (9·10 + 1) // 10"),
        pytest.param(7, 25, 6, id="down towards 2: (9·7 + 2) // 10"),
        pytest.param(3, 0, 2, id="down towards the floor of 1: (9·3 + 1) // 10"),
        pytest.param(2, 0, 1, id="down to 1: (9·2 + 1) // 10"),
        pytest.param(1, 0, 1, id="never below 1 even at min 0"),
        pytest.param(0, 9, 0, id="at 0, fewer than M messages: floor is 0, no change"),
        pytest.param(0, 10, 1, id="at 0, M messages: 1"),
    ],
)
def test_onfido_rules(spec: int, messages: float, expected: int) -> None:
    onfido = Onfido(10, Bounds(min_replicas=0, max_replicas=50))

    assert onfido.act(30, showing(messages), spec) == expected


def test_onfido_steps_down_towards_min_replicas() -> None:
    onfido = Onfido(10, Bounds(min_replicas=4, max_replicas=50))

    assert onfido.act(60, showing(0), 10) == (9 * 10 + 4) // 10


def test_onfido_acts_only_every_30_seconds() -> None:
    onfido = Onfido(10, Bounds())

    assert [onfido.act(t, showing(100), 1) for t in (0, 15, 29, 30, 31)] == [10, 1, 1, 10, 1]


@pytest.mark.parametrize(
    ("rates", "bounds", "expected"),
    [
        pytest.param((0, 95, 40), Bounds(0, 50), 10, id="ceil(95 / 10)"),
        pytest.param((100,), Bounds(0, 50), 10, id="exactly 10 per replica"),
        pytest.param((101,), Bounds(0, 50), 11, id="just over"),
        pytest.param((1000,), Bounds(0, 5), 5, id="clamped to max"),
        pytest.param((0,), Bounds(3, 50), 3, id="clamped to min"),
        pytest.param((0,), Bounds(0, 50), 0, id="nothing published: 0"),
    ],
)
def test_static_is_sized_for_the_peak_second(
    rates: tuple[float, ...], bounds: Bounds, expected: int
) -> None:
    assert static_replicas(rates, 10, bounds) == expected


def test_static_replaces_initial_replicas_all_ready_and_never_changes() -> None:
    # Peak 30/s at 10/s per replica: 3 from t0, ready although startup is 30 s.
    result = run_static(Trace("peak", (0.0, 30.0, 0.0)), Scenario(), Bounds())

    assert result.replicas == (3, 3, 3)
    assert result.ready == (3, 3, 3)
    assert result.changes == ()
    assert score(result).scale_changes == 0
    assert score(result).max_wait == 0


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: Keda(0, Bounds()), id="keda value 0"),
        pytest.param(lambda: Onfido(-1, Bounds()), id="onfido M negative"),
        pytest.param(lambda: Bounds(5, 2), id="min above max"),
        pytest.param(lambda: Bounds(0, 0), id="max 0"),
    ],
)
def test_nonsense_settings_are_config_errors(build: Callable[[], object]) -> None:
    with pytest.raises(ConfigError):
        build()
