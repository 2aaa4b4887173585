"""The activation fast path: the override rule, the trigger, and their wiring.

The probe's source, the broker and the cluster stand behind qscaler's own
protocols here (in-memory, as in test_loop.py); tests/integration/
test_activation_probe.py runs the same path against the real broker.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import cast

import pytest
import regex
from prometheus_client import CollectorRegistry

from qscaler.app import Runtime, run_forever
from qscaler.bindings_file import StaticCluster
from qscaler.core.actuation import Plan
from qscaler.core.binding import ProcessDefaults
from qscaler.core.model import QueueStats, VhostSnapshot
from qscaler.core.policy import Aggregate, Mode, Policy, QueueSelector
from qscaler.core.rates import RateSmoother
from qscaler.core.select import QueueMatcher, VhostView, observe, raise_ready
from qscaler.core.wake import Sleeper, share, sleeper, wanted, woken
from qscaler.core.workload import Workload, WorkloadRef
from qscaler.errors import SourceUnavailable
from qscaler.loop import ControlLoop, LoopConfig
from qscaler.probe import ActivationProbe
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.record.server import Health
from qscaler.settings import load_settings
from qscaler.sources import VhostRequest
from tests.harness.memory import RecordingWriter

# --- the override rule (observe step) ------------------------------------------------------


def view(**ready: int) -> VhostView:
    snap = VhostSnapshot("/", {n: QueueStats(n, r, 2, 0) for n, r in ready.items()}, read_at=7.0)
    return VhostView.of(snap, RateSmoother().smooth(snap))


def test_probe_raises_a_stale_count_and_never_lowers_one() -> None:
    raised = raise_ready(view(stale=0, ahead=9, same=4), {"stale": 5, "ahead": 3, "same": 4})
    assert {n: s.messages_ready for n, s in raised.samples.items()} == {
        "stale": 5,
        "ahead": 9,
        "same": 4,
    }
    assert raised.probed == {"stale"}
    assert raised.samples["stale"].messages_unacknowledged == 2  # only ready is replaced


def test_probe_neither_adds_queues_nor_changes_the_names_matching_is_cached_on() -> None:
    before = view(a=0)
    after = raise_ready(before, {"a": 1, "unknown": 50})
    assert set(after.samples) == {"a"}
    assert after.names == before.names
    assert raise_ready(before, {"a": 0}) is before  # nothing raised: the same view


def test_observation_says_which_of_its_queues_the_probe_raised() -> None:
    raised = raise_ready(view(a=0, b=0, jobs=0), {"a": 3, "jobs": 8})
    selector = QueueSelector("/", names=("a", "b"))
    observation = observe(selector, raised, QueueMatcher())
    assert observation.probed == ("a",)
    assert [q.messages_ready for q in observation.queues] == [3, 0]
    patterned = QueueSelector("/", patterns=(regex.compile("^jo"),))
    assert observe(patterned, raised, QueueMatcher()).probed == ("jobs",)


# --- the trigger rule -------------------------------------------------------------------------

REF = WorkloadRef("apps", "w")


def policy(*names: str, **kw: object) -> Policy:
    selector = QueueSelector("v", names=names, patterns=(regex.compile("^p"),))
    return Policy(selector, messages_per_replica=10, min_replicas=0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "pol", "watched"),
    [
        pytest.param(0, policy("a", "b"), ("a", "b"), id="at-zero-exact-names"),
        pytest.param(1, policy("a"), None, id="running"),
        pytest.param(0, policy("a", mode=Mode.PAUSED), None, id="paused"),
        pytest.param(0, policy(), None, id="patterns-only"),
        pytest.param(0, policy("a", mode=Mode.DRY_RUN), ("a",), id="dry-run-still-reported"),
    ],
)
def test_which_workloads_the_probe_watches(
    current: int, pol: Policy, watched: tuple[str, ...] | None
) -> None:
    found = sleeper(REF, pol, current)
    assert (found.names if found else None) == watched


def sleeping(
    name: str, *queues: str, threshold: float = 0, agg: Aggregate = Aggregate.SUM
) -> Sleeper:
    return Sleeper(WorkloadRef("apps", name), "v", queues, threshold, agg)


@pytest.mark.parametrize(
    ("ready", "expected"),
    [
        pytest.param({"a": 0, "b": 0}, [], id="empty"),
        pytest.param({"a": 2, "b": 2}, ["sum"], id="sum-above-max-not"),
        pytest.param({"a": 4, "b": 0}, ["sum", "max"], id="both-above"),
        pytest.param({"a": 3}, [], id="threshold-is-strict"),
        pytest.param({}, [], id="not-read-counts-nothing"),
    ],
)
def test_a_sleeper_wakes_above_its_activation_threshold(
    ready: Mapping[str, int], expected: list[str]
) -> None:
    sleepers = [
        sleeping("sum", "a", "b", threshold=3),
        sleeping("max", "a", "b", threshold=3, agg=Aggregate.MAX),
    ]
    assert [r.name for r in woken(sleepers, {"v": ready})] == expected


def test_each_name_is_declared_once_per_vhost() -> None:
    other = Sleeper(WorkloadRef("apps", "o"), "w", ("a",), 0)
    assert wanted([sleeping("x", "a", "b"), sleeping("y", "b", "c"), other]) == {
        "v": {"a", "b", "c"},
        "w": {"a"},
    }


def test_a_bounded_round_takes_turns_over_every_name() -> None:
    wanting = {"v": frozenset({"a", "b", "c"}), "w": frozenset({"d", "e"})}
    assert share(wanting, 5, 3) == (wanting, 0)  # within the budget: everything, every round
    seen: list[str] = []
    turn = 0
    for _ in range(5):
        chosen, turn = share(wanting, 2, turn)
        assert sum(map(len, chosen.values())) == 2
        seen.extend(f"{v}/{n}" for v, names in chosen.items() for n in names)
    assert sorted(seen) == sorted(["v/a", "v/b", "v/c", "w/d", "w/e"] * 2)


# --- the probe: once per episode, failures logged once -----------------------------------------


class Declares:
    """A real-time source: serves `ready` per vhost; vhosts in `down` fail."""

    def __init__(self, ready: dict[str, dict[str, int]]) -> None:
        self.ready = ready
        self.down: set[str] = set()
        self.requests: list[VhostRequest] = []

    def read(self, request: VhostRequest) -> VhostSnapshot:
        self.requests.append(request)
        if request.vhost in self.down:
            raise SourceUnavailable(f"vhost {request.vhost}: connection refused")
        here = self.ready.get(request.vhost, {})
        queues = {n: QueueStats(n, here[n], None, 0) for n in request.names if n in here}
        return VhostSnapshot(request.vhost, queues, 0.0, frozenset(request.names - set(queues)))

    def close(self) -> None:
        pass


def test_a_workload_fires_once_per_episode() -> None:
    source = Declares({"v": {"a": 0}})
    probe = ActivationProbe(source)
    sleepers = [sleeping("w", "a")]
    assert probe.check(sleepers) is None
    source.ready["v"]["a"] = 5
    first = probe.check(sleepers)
    assert first is not None
    assert (first.refs, first.ready) == ((sleepers[0].ref,), {"v": {"a": 5}})
    assert probe.check(sleepers) is None  # still above: the poll takes it from here
    source.ready["v"]["a"] = 0
    assert probe.check(sleepers) is None
    source.ready["v"]["a"] = 1
    assert probe.check(sleepers) is not None  # a new episode
    assert probe.queues_probed == 5


def test_a_bounded_probe_judges_on_the_latest_count_of_every_queue() -> None:
    source = Declares({"v": {"a": 2, "b": 2}})
    probe = ActivationProbe(source, max_queues=1)
    sleepers = [sleeping("w", "a", "b", threshold=3)]
    assert probe.check(sleepers) is None  # read a: 2 of the 4
    found = probe.check(sleepers)  # read b: with a's 2 from the round before, 4 > 3
    assert found is not None
    assert found.ready == {"v": {"a": 2, "b": 2}}
    assert [len(r.names) for r in source.requests] == [1, 1]


def test_a_failing_vhost_wakes_nothing_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    source = Declares({"v": {"a": 9}, "w": {"b": 9}})
    source.down.add("v")
    probe = ActivationProbe(source)
    other = Sleeper(WorkloadRef("apps", "o"), "w", ("b",), 0)
    for _ in range(3):
        found = probe.check([sleeping("w", "a"), other])
        if found is not None:
            assert found.refs == (other.ref,)
    warnings = [r for r in caplog.records if "cannot read vhost 'v'" in r.getMessage()]
    assert len(warnings) == 1


# --- the loop: sleepers and wake ---------------------------------------------------------------


class StaleBroker:
    """The management API's view: fixed (stale) ready counts."""

    def __init__(self, ready: dict[str, int]) -> None:
        self.ready = ready
        self.reads = 0

    def read(self, request: VhostRequest) -> VhostSnapshot:
        self.reads += 1
        queues = {n: QueueStats(n, r, 0, 0) for n, r in self.ready.items()}
        return VhostSnapshot(request.vhost, queues, 100.0, frozenset(request.names - set(queues)))

    def close(self) -> None:
        pass


def deploy(name: str, replicas: int, queues: str) -> Workload:
    annotations = {
        "qscaler.io/queues": queues,
        "qscaler.io/vhost": "v",
        "qscaler.io/messages-per-replica": "10",
        "qscaler.io/min-replicas": "0",
        "qscaler.io/activation-messages": "2",
    }
    return Workload(WorkloadRef("apps", name), replicas, replicas, annotations)


def world(
    stale: dict[str, int],
) -> tuple[ControlLoop, StaleBroker, RecordingWriter, OutcomeRecorder]:
    broker, writer = StaleBroker(stale), RecordingWriter()
    reporter = OutcomeRecorder(Metrics(CollectorRegistry()), wall_clock=lambda: 1_700_000_000.0)
    workloads = [
        deploy("asleep", 0, "a"),
        deploy("pattern", 0, "re:^p"),
        deploy("running", 1, "r"),
        deploy("other", 0, "o"),
    ]
    loop = ControlLoop(StaticCluster(workloads), broker, writer, reporter, clock=lambda: 101.0)
    return loop, broker, writer, reporter


def test_sleepers_are_the_zero_replica_workloads_with_exact_names() -> None:
    loop, _, _, _ = world({"a": 0, "p1": 0, "r": 0, "o": 0})
    assert sorted(s.ref.name for s in loop.sleepers()) == ["asleep", "other"]

    class Follower:
        def is_leader(self) -> bool:
            return False

    loop.leadership = Follower()
    assert loop.sleepers() == []


def test_wake_decides_only_the_woken_workload_on_the_probed_count() -> None:
    loop, broker, writer, reporter = world({"a": 0, "p1": 0, "r": 0, "o": 0})
    loop.cycle()
    assert writer.writes == []  # the management API shows nothing yet
    reads = broker.reads

    outcomes = loop.wake([WorkloadRef("apps", "asleep")], {"v": {"a": 25, "o": 1}})

    assert broker.reads == reads  # the last cycle's view, no new poll
    assert writer.writes == [("asleep", Plan(applied=3, desired=3, replicas=3))]
    (outcome,) = outcomes
    assert outcome.observation is not None
    assert outcome.observation.probed == ("a",)
    assert outcome.decision is not None
    assert (outcome.decision.backlog, outcome.decision.reason.value) == (25, "ScaleFromZero")
    assert reporter.last_report is not None
    assert len(reporter.last_report.outcomes) == 4  # the cycle's report, untouched


def test_wake_before_any_cycle_leaves_it_to_the_first_cycle() -> None:
    loop, _, writer, _ = world({"a": 0})
    assert loop.wake([WorkloadRef("apps", "asleep")], {"v": {"a": 25}}) == []
    assert writer.writes == []


def test_a_wake_does_not_wait_for_a_cycle_reading_the_broker() -> None:
    loop, broker, writer, _ = world({"a": 0, "p1": 0, "r": 0, "o": 0})
    loop.cycle()
    reading, release = threading.Event(), threading.Event()
    read = broker.read

    def slow_read(request: VhostRequest) -> VhostSnapshot:
        reading.set()
        release.wait(timeout=60)
        return read(request)

    broker.read = slow_read  # type: ignore[method-assign]
    cycling = threading.Thread(target=loop.cycle, daemon=True)
    cycling.start()
    try:
        assert reading.wait(timeout=30)
        waking = threading.Thread(
            target=loop.wake, args=([WorkloadRef("apps", "asleep")], {"v": {"a": 25}}), daemon=True
        )
        waking.start()
        waking.join(timeout=30)
        assert not waking.is_alive(), "the wake waited for the cycle's read"
        assert writer.writes == [("asleep", Plan(applied=3, desired=3, replicas=3))]
    finally:
        release.set()
        cycling.join(timeout=30)
    assert len(writer.writes) == 1  # the cycle did not write it again


# --- run_forever: the probe runs on its own thread ---------------------------------------------------


def test_run_forever_probes_and_wakes_between_polls() -> None:
    loop, broker, writer, _ = world({"a": 0, "p1": 0, "r": 0, "o": 0})
    source = Declares({"v": {"a": 0, "o": 0}})
    runtime = Runtime(
        loop,
        Metrics(CollectorRegistry()),
        Health(lambda: 0.0, stuck_after_seconds=60),
        probes={"default": ActivationProbe(source)},
        probe_seconds=0.01,
    )
    thread = threading.Thread(target=run_forever, args=(runtime, 3600.0), daemon=True)
    thread.start()
    try:
        source.ready["v"]["a"] = 30
        assert writer.wrote.wait(timeout=30), "no wake within 30 s"
    finally:
        runtime.stop_event.set()
        thread.join(timeout=30)
    assert broker.reads == 1  # one cycle at start; the wake needed no poll
    assert writer.writes == [("asleep", Plan(applied=3, desired=3, replicas=3))]
    assert {r.vhost for r in source.requests} == {"v"}


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "interval"),
    [
        pytest.param({}, None, id="no-amqp-url-off"),
        pytest.param({"amqp_url": "amqp://rabbit:5672"}, 1.0, id="amqp-url-on"),
        pytest.param(
            {"amqp_url": "amqp://rabbit:5672", "activation_probe_seconds": 0}, None, id="zero-off"
        ),
        pytest.param({"source": "amqp", "activation_probe_seconds": 0.5}, 0.5, id="amqp-source"),
    ],
)
def test_the_probe_needs_an_amqp_url(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, object], interval: float | None
) -> None:
    for key in ("QSCALER_AMQP_URL", "QSCALER_SOURCE", "QSCALER_ACTIVATION_PROBE_SECONDS"):
        monkeypatch.delenv(key, raising=False)
    assert load_settings(**overrides).activation_probe_interval() == interval


def test_each_broker_s_probe_sees_and_wakes_only_its_own_sleepers() -> None:
    default, second, writer = StaleBroker({"a": 0}), StaleBroker({"a": 0}), RecordingWriter()
    reporter = OutcomeRecorder(Metrics(CollectorRegistry()), wall_clock=lambda: 1_700_000_000.0)
    on_second = deploy("on-second", 0, "a")
    # deploy() passes a dict; Workload only promises a Mapping
    cast(dict[str, str], on_second.annotations)["qscaler.io/broker"] = "second"
    workloads = [deploy("on-default", 0, "a"), on_second]
    loop = ControlLoop(
        StaticCluster(workloads), default, writer, reporter, clock=lambda: 101.0,
        config=LoopConfig(defaults=ProcessDefaults(brokers=("default", "second"))),
        brokers={"second": second},
    )  # fmt: skip
    assert [s.ref.name for s in loop.sleepers()] == ["on-default"]
    assert [s.ref.name for s in loop.sleepers("second")] == ["on-second"]
    loop.cycle()

    both = [WorkloadRef("apps", "on-default"), WorkloadRef("apps", "on-second")]
    outcomes = loop.wake(both, {"v": {"a": 25}}, "second")

    # The second broker's count wakes only its own workload, not the default
    # broker's queue of the same vhost and name.
    assert [o.ref.name for o in outcomes] == ["on-second"]
    assert writer.writes == [("on-second", Plan(applied=3, desired=3, replicas=3))]
