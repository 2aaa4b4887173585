"""The world of SIMULATION.md §2: queue, replicas, billing and the stale stats view.

Expected values are computed by hand in the comments; every run uses
`startup_seconds = 0` unless start-up is the point of the test.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qscaler.errors import ConfigError
from qscaler.sim.controllers import Static
from qscaler.sim.run import run
from qscaler.sim.trace import Trace
from qscaler.sim.world import ScaleChange, Scenario, StatsSnapshot, World


class Script:
    """Sets spec.replicas to planned counts at planned seconds; records what it saw."""

    def __init__(self, plan: dict[int, int] | None = None) -> None:
        self.plan = plan or {}
        self.seen: dict[int, tuple[StatsSnapshot, int]] = {}

    def act(self, now: int, snapshot: StatsSnapshot, spec_replicas: int) -> int:
        self.seen[now] = (snapshot, spec_replicas)
        return self.plan.get(now, spec_replicas)


def trace(*rates: float) -> Trace:
    return Trace(name="test", rates=tuple(float(r) for r in rates))


def scenario(**overrides: float) -> Scenario:
    values: dict[str, float] = {
        "service_rate": 2,
        "startup_seconds": 0,
        "initial_replicas": 1,
        "stats_interval": 1,
    }
    values.update(overrides)
    return Scenario(
        service_rate=values["service_rate"],
        startup_seconds=int(values["startup_seconds"]),
        initial_replicas=int(values["initial_replicas"]),
        stats_interval=int(values["stats_interval"]),
    )


# -- the FIFO fluid queue ---------------------------------------------------------------------


def test_fifo_waits_on_a_burst() -> None:
    # 1 replica × 2/s. t0: 5 arrive, 2 processed at once (wait 0), 3 left.
    # t1: 2 more of t0's processed (wait 1), 1 left. t2: the last of t0's (wait 2).
    # t3: 1 arrives and is processed in the same second (wait 0).
    result = run(trace(5, 0, 0, 1), scenario(), Static())

    assert result.processed == (2, 2, 1, 1)
    assert result.backlog == (0, 3, 1, 0, 0)
    assert result.wait_histogram == (3, 2, 1, 0, 0)


def test_newer_messages_wait_behind_older_ones_and_the_rest_wait_until_the_end() -> None:
    # t0: 5 arrive, 2 processed (wait 0), 3 of t0 left.
    # t1: 1 arrives behind them; 2 of t0's processed (wait 1); left: 1 of t0, 1 of t1.
    # End of a 2-s trace: t0's last one waited 2 - 0 = 2, t1's waited 2 - 1 = 1.
    result = run(trace(5, 1), scenario(), Static())

    assert result.wait_histogram == (2, 2 + 1, 1)
    assert result.backlog[-1] == 2


def test_a_message_can_be_processed_in_the_second_it_arrives() -> None:
    result = run(trace(3), scenario(service_rate=10), Static())

    assert result.processed == (3,)
    assert result.wait_histogram == (3, 0)


@given(
    rates=st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=60),
    plan=st.dictionaries(st.integers(0, 59), st.integers(0, 8), max_size=10),
    startup=st.integers(0, 10),
    interval=st.integers(1, 7),
    service_rate=st.integers(1, 20),
)
def test_every_message_is_processed_or_still_queued_and_has_one_wait(
    rates: list[int], plan: dict[int, int], startup: int, interval: int, service_rate: int
) -> None:
    the_trace = trace(*rates)
    the_scenario = Scenario(
        service_rate=service_rate, startup_seconds=startup, stats_interval=interval
    )

    result = run(the_trace, the_scenario, Script(plan))

    arrived = sum(rates)
    assert sum(result.processed) + result.backlog[-1] == arrived
    assert sum(result.wait_histogram) == arrived
    assert all(p <= r * service_rate for p, r in zip(result.processed, result.ready, strict=True))


# -- replicas: start-up, removal, billing ----------------------------------------------------


def test_a_new_replica_consumes_only_after_startup_seconds() -> None:
    # From 0 to 2 replicas at t0, ready at t3: 2 messages of t0 are processed at t3 (wait 3).
    result = run(
        trace(2, 0, 0, 0, 0),
        scenario(service_rate=1, startup_seconds=3, initial_replicas=0),
        Script({0: 2}),
    )

    assert result.replicas == (2, 2, 2, 2, 2)
    assert result.ready == (0, 0, 0, 2, 2)
    assert result.processed == (0, 0, 0, 2, 0)
    assert result.wait_histogram[3] == 2


@pytest.mark.parametrize(
    ("initial", "plan", "ready"),
    [
        # The replica added at t1 (ready at t4) is the one removed at t2; oldest-first
        # removal would have given (2, 2, 1, 1, 2, 2).
        pytest.param(2, {1: 3, 2: 2}, (2, 2, 2, 2, 2, 2), id="a starting replica goes first"),
        # Two start at t0 (ready at t3); going to 1 at t1 removes both and one ready one.
        pytest.param(2, {0: 4, 1: 1}, (2, 1, 1, 1, 1, 1), id="then the newest ready ones"),
        pytest.param(3, {1: 1}, (3, 1, 1, 1, 1, 1), id="ready ones when none is starting"),
        # t0 adds one (ready t3), t1 adds one (ready t4); t2 removes the t1 one.
        pytest.param(1, {0: 2, 1: 3, 2: 2}, (1, 1, 1, 2, 2, 2), id="the newest starting one"),
    ],
)
def test_removal_takes_the_newest_replicas_first(
    initial: int, plan: dict[int, int], ready: tuple[int, ...]
) -> None:
    result = run(
        trace(0, 0, 0, 0, 0, 0),
        scenario(startup_seconds=3, initial_replicas=initial),
        Script(plan),
    )

    assert result.ready == ready


def test_with_no_startup_a_replica_added_now_consumes_now() -> None:
    result = run(trace(30), scenario(service_rate=10), Script({0: 3}))

    assert result.ready == (3,)
    assert result.processed == (30,)


def test_every_requested_replica_is_billed_ready_or_not() -> None:
    result = run(trace(0, 0, 0), scenario(startup_seconds=30, initial_replicas=1), Script({1: 4}))

    assert result.replicas == (1, 4, 4)
    assert result.ready == (1, 1, 1)


def test_changes_are_recorded_per_second_including_t0() -> None:
    result = run(trace(0, 0, 0, 0, 0), scenario(), Script({0: 2, 3: 2, 4: 1}))

    assert result.changes == (ScaleChange(0, 1, 2), ScaleChange(4, 2, 1))


def test_a_driver_may_set_replicas_several_times_in_one_second() -> None:
    world = World(trace(0, 0), scenario(startup_seconds=5, initial_replicas=1))

    world.set_replicas(3)
    world.set_replicas(1)  # back to where the second started: no change
    world.advance()
    world.set_replicas(2)
    world.advance()

    result = world.result()
    assert world.done
    assert result.changes == (ScaleChange(1, 1, 2),)
    assert result.replicas == (1, 2)
    assert result.ready == (1, 1)


def test_a_finished_world_refuses_to_go_on() -> None:
    world = World(trace(0), scenario())
    world.advance()

    with pytest.raises(RuntimeError, match="the run is over"):
        world.advance()
    with pytest.raises(RuntimeError, match="the run is over"):
        world.set_replicas(2)


def test_negative_replicas_are_refused() -> None:
    with pytest.raises(ValueError, match="replicas must be ≥ 0"):
        World(trace(0), scenario()).set_replicas(-1)


def test_an_invalid_scenario_names_every_problem() -> None:
    with pytest.raises(ConfigError) as raised:
        Scenario(service_rate=0, stats_interval=0)

    assert str(raised.value) == (
        "invalid scenario: service_rate must be > 0, got 0; stats_interval must be ≥ 1, got 0"
    )


# -- the management-stats view ---------------------------------------------------------------


def test_observations_are_snapshots_taken_at_interval_boundaries() -> None:
    # 1 replica × 1/s, stats every 5 s. Backlog: b1 = 0, b2 = 4, b3 = 13, b4 = 27, b5 = 46.
    # Snapshot at 5: ready b5 = 46, unacked processed(4) = 1,
    # publish mean over t0..t4 = (0+5+10+15+20)/5 = 10, ack mean = (0+1+1+1+1)/5 = 0.8.
    # At t5 the script asks for 3 (ready at once); the snapshot still shows 1 consumer.
    # t5..t9 process 3/s of 100/s: b10 = 46 + 5·97 = 531.
    script = Script({5: 3})
    rates = (0, 5, 10, 15, 20, 100, 100, 100, 100, 100, 100)

    run(trace(*rates), scenario(service_rate=1, stats_interval=5), script)

    at_start = StatsSnapshot(0, 0, 0, 0, 0, 1)
    at_5 = StatsSnapshot(5, 46, 1, 10, 0.8, 1)
    at_10 = StatsSnapshot(10, 531, 3, 100, 3, 3)
    assert [script.seen[t][0] for t in range(11)] == [at_start] * 5 + [at_5] * 5 + [at_10]
    assert at_5.messages == 47


@pytest.mark.parametrize(
    ("initial", "startup", "plan", "consumers"),
    [
        pytest.param(1, 30, {1: 4}, 1, id="a starting replica is not a consumer"),
        pytest.param(1, 3, {1: 2}, 2, id="one ready by the boundary is"),
        pytest.param(2, 0, {5: 0}, 2, id="removed in the boundary second: still counted"),
        pytest.param(1, 0, {5: 3}, 1, id="added in the boundary second: not yet"),
    ],
)
def test_consumers_are_the_ready_replicas_before_the_boundary_second_acts(
    initial: int, startup: int, plan: dict[int, int], consumers: int
) -> None:
    script = Script(plan)
    the_scenario = scenario(initial_replicas=initial, startup_seconds=startup, stats_interval=5)

    run(trace(0, 0, 0, 0, 0, 0, 0), the_scenario, script)

    assert script.seen[6][0].consumers == consumers


def test_spec_replicas_are_seen_exactly_and_at_once() -> None:
    script = Script({2: 4})

    run(trace(0, 0, 0, 0), scenario(stats_interval=5), script)

    assert [script.seen[t][1] for t in range(4)] == [1, 1, 1, 4]


def test_with_a_one_second_interval_the_view_is_one_second_old_at_most() -> None:
    # 1 replica × 1/s, 4/s arriving: b2 = 3 + 3 = 6, processed(1) = 1.
    script = Script()

    run(trace(4, 4, 4), scenario(service_rate=1), script)

    assert script.seen[2][0] == StatsSnapshot(2, 6, 1, 4, 1, 1)
