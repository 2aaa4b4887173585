"""The forecast store on the real control plane, under deploy/'s RBAC.

Two `ForecastStore`s play two qscaler processes (one stopped, one started;
or a leader and the next): what the first keeps, the second recalls, on a
loop clock of its own. The store's promises are checked against the real
ConfigMap: written only by a leader, only what changed, at most once per
interval; an unusable entry starts that workload fresh; when full, the least
recently written entries go; entries another process wrote are left alone; a
process stopping saves what changed at once, within its time or not at all.
The last test runs `qscaler run` itself, against the real broker, and stops it
with SIGTERM as a rolling update does.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from qscaler.core.forecast import ForecastState
from qscaler.core.forecast_codec import encode, remembered
from qscaler.core.model import History
from qscaler.core.rate_aware_state import RateAwareState
from qscaler.core.workload import WorkloadRef
from qscaler.kube.client import make_api_client
from qscaler.kube.forecast_store import ForecastStore, entry_key
from qscaler.settings import Settings
from tests.e2e.conftest import ENABLED, QSCALER_NAMESPACE, StartQscaler
from tests.harness.faultproxy import TcpFaultProxy
from tests.harness.k8s import ControlPlane, kubeconfig_through, wait_for
from tests.harness.qscaler_process import QscalerProcess
from tests.harness.rabbitmq import Broker
from tests.unit.recurring import bursts, learned

pytestmark = pytest.mark.k8s

NAME = str(Settings.model_fields["forecast_store_name"].default)  # the one deploy/ grants
WALL = 1.8e9


class Clock:
    """A loop clock the test moves; it starts wherever a process's would."""

    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def fresh(control_plane: ControlPlane) -> Iterator[None]:
    """No ConfigMap yet (it is shared by the e2e runs: deleted before and after)."""

    def delete() -> None:
        try:
            control_plane.core().delete_namespaced_config_map(NAME, QSCALER_NAMESPACE)
        except ApiException as exc:
            if exc.status != 404:
                raise

    delete()
    yield
    delete()


def store(
    kubeconfig: Path,
    clock: Clock,
    counts: Counter[str],
    leader: bool = True,
    flush_seconds: float = 5.0,
) -> ForecastStore:
    return ForecastStore(
        make_api_client(kubeconfig),
        NAME,
        QSCALER_NAMESPACE,
        may_write=lambda: leader,
        every_seconds=60,
        count=lambda operation, result: counts.update([f"{operation} {result}"]),
        flush_seconds=flush_seconds,
        clock=clock,
        wall_clock=lambda: WALL,
    )


def taught() -> History:
    state = learned(bursts(120, 0, 20, 50, 1), 900)
    assert state.period is not None
    figures = RateAwareState(throughput=4.0, throughput_confirmed=True, startup_seconds=25.0)
    return History(forecast=state, rate_aware=figures)


def data(plane: ControlPlane) -> dict[str, str]:
    configmap = plane.core().read_namespaced_config_map(NAME, QSCALER_NAMESPACE)
    return dict(configmap.data or {})


def data_if_any(plane: ControlPlane) -> dict[str, str]:
    """The ConfigMap's data; {} while there is no ConfigMap."""
    try:
        return data(plane)
    except ApiException as exc:
        if exc.status != 404:
            raise
        return {}


REF = WorkloadRef("shop", "worker")


def test_a_new_process_recalls_what_the_last_one_kept(
    control_plane: ControlPlane, qscaler_kubeconfig: Path, fresh: None
) -> None:
    first, second = Counter[str](), Counter[str]()
    old = store(qscaler_kubeconfig, Clock(900.0), first)
    old.load()  # no ConfigMap yet: nothing to recall
    assert old.recall(REF) is None
    old.keep({REF: taught()})
    assert first == {"read ok": 1, "write ok": 1}
    assert set(data(control_plane)) == {entry_key(REF)}

    # The new process's loop clock reads 5 s at the moment the old one read 900 s.
    new = store(qscaler_kubeconfig, Clock(5.0), second)
    new.load()
    memory = new.recall(REF)
    assert memory is not None
    before = taught().forecast
    assert before is not None
    assert memory.state.period == before.period
    assert memory.state.trust == before.trust
    assert before.open_bucket is not None
    assert memory.state.open_bucket == before.open_bucket - round(895 / 15)
    assert (memory.throughput, memory.throughput_confirmed, memory.startup_seconds) == (
        4.0,
        True,
        25.0,
    )
    assert new.recall(REF) is None, "an entry is handed out once"
    assert second == {"read ok": 1, "restore ok": 1}


def test_only_a_leader_writes_only_what_changed_at_most_once_per_interval(
    control_plane: ControlPlane, qscaler_kubeconfig: Path, fresh: None
) -> None:
    counts = Counter[str]()
    follower = store(qscaler_kubeconfig, Clock(0.0), counts, leader=False)
    follower.keep({REF: taught()})
    assert counts == {}, "a follower neither reads nor writes"

    clock = Clock(0.0)
    leader = store(qscaler_kubeconfig, clock, counts)
    leader.load()  # as on becoming the leader
    history = taught()
    leader.keep({REF: history})
    written = data(control_plane)[entry_key(REF)]
    more = History(forecast=ForecastState(trust=0.5), rate_aware=RateAwareState(throughput=1.0))
    clock.at = 59.0
    leader.keep({REF: more})  # within the interval
    assert data(control_plane)[entry_key(REF)] == written
    clock.at = 61.0
    leader.keep({REF: history})  # unchanged
    assert counts == {"read ok": 1, "write ok": 1}
    clock.at = 122.0
    leader.keep({REF: more})
    assert counts == {"read ok": 1, "write ok": 2}
    assert json.loads(data(control_plane)[entry_key(REF)])["trust"] == 0.5


def test_a_stopping_leader_writes_what_changed_at_once_and_only_that(
    control_plane: ControlPlane, qscaler_kubeconfig: Path, fresh: None
) -> None:
    """`flush` ignores the interval, not the rest: only what changed since the
    last write, only by a leader, only after a read succeeded."""
    counts = Counter[str]()
    clock = Clock(0.0)
    leader = store(qscaler_kubeconfig, clock, counts)
    leader.load()
    other = WorkloadRef("shop", "other")
    leader.keep({REF: taught(), other: taught()})
    other_entry = data(control_plane)[entry_key(other)]
    more = History(forecast=ForecastState(trust=0.5), rate_aware=RateAwareState(throughput=1.0))
    clock.at = 1.0
    leader.keep({REF: more, other: taught()})  # 1 s after the last write: not yet
    assert counts == {"read ok": 1, "write ok": 1}
    leader.flush({REF: more, other: taught()})
    assert counts == {"read ok": 1, "write ok": 2}
    assert json.loads(data(control_plane)[entry_key(REF)])["trust"] == 0.5
    assert data(control_plane)[entry_key(other)] == other_entry, "unchanged: not written"
    leader.flush({REF: more, other: taught()})
    assert counts == {"read ok": 1, "write ok": 2}, "nothing changed since: no request"

    follower = store(qscaler_kubeconfig, Clock(0.0), counts, leader=False)
    follower.load()
    follower.flush({REF: taught()})
    unread = store(qscaler_kubeconfig, Clock(0.0), counts)
    unread.flush({REF: taught()})  # it never read what the last leader saved
    assert counts == {"read ok": 2, "write ok": 2}
    assert json.loads(data(control_plane)[entry_key(REF)])["trust"] == 0.5


def test_a_stopping_leader_out_of_time_writes_nothing_and_counts_a_failure(
    control_plane: ControlPlane, qscaler_kubeconfig: Path, fresh: None
) -> None:
    """No time left for the flush: no request at all (the shutdown goes on),
    counted and logged as a failed write, never raised."""
    counts = Counter[str]()
    leader = store(qscaler_kubeconfig, Clock(0.0), counts, flush_seconds=0.0)
    leader.load()
    leader.keep({REF: taught()})
    written = data(control_plane)[entry_key(REF)]
    leader.flush({REF: History(forecast=ForecastState(trust=0.5))})
    assert counts == {"read ok": 1, "write ok": 1, "write error": 1}
    assert data(control_plane)[entry_key(REF)] == written


def test_an_unusable_entry_starts_that_workload_fresh(
    control_plane: ControlPlane, qscaler_kubeconfig: Path, fresh: None
) -> None:
    good = WorkloadRef("shop", "good")
    memory = remembered(taught())
    assert memory is not None
    foreign = json.loads(encode(memory, 0.0, WALL, 1 << 20)) | {"v": 99}
    control_plane.core().create_namespaced_config_map(
        QSCALER_NAMESPACE,
        {
            "metadata": {"name": NAME},
            "data": {
                entry_key(REF): encode(memory, 0.0, WALL, 1 << 20)[:-40],  # truncated
                entry_key(WorkloadRef("shop", "other")): json.dumps(foreign),
                entry_key(good): encode(memory, 0.0, WALL, 1 << 20),
            },
        },
    )
    counts = Counter[str]()
    reader = store(qscaler_kubeconfig, Clock(0.0), counts)
    reader.load()
    assert reader.recall(REF) is None
    assert reader.recall(WorkloadRef("shop", "other")) is None
    assert reader.recall(good) is not None
    assert counts == {"read ok": 1, "restore error": 2, "restore ok": 1}
    reader.keep({REF: taught()})  # the fresh history replaces the broken entry
    assert json.loads(data(control_plane)[entry_key(REF)])["v"] == 1


def test_when_full_the_least_recently_written_go_and_others_stay(
    control_plane: ControlPlane, qscaler_kubeconfig: Path, fresh: None
) -> None:
    memory = remembered(taught())
    assert memory is not None
    entry = encode(memory, 0.0, WALL, 1 << 20)
    old = encode(memory, 0.0, WALL - 7200, 1 << 20)  # written two hours ago
    control_plane.core().create_namespaced_config_map(
        QSCALER_NAMESPACE,
        {
            "metadata": {"name": NAME},
            "data": {"elsewhere.Deployment.old": old, "elsewhere.Deployment.recent": entry},
        },
    )
    counts = Counter[str]()
    full = store(qscaler_kubeconfig, Clock(0.0), counts)
    full.max_total_bytes = 3 * (len(entry) + 40)  # room for three entries
    full.load()
    full.keep({REF: taught(), WorkloadRef("shop", "second"): taught()})
    assert set(data(control_plane)) == {
        "elsewhere.Deployment.recent",  # another process's entry: left alone
        entry_key(REF),
        entry_key(WorkloadRef("shop", "second")),
    }
    assert counts == {"read ok": 1, "write ok": 1, "evict ok": 1}


def test_a_leader_regaining_the_lead_takes_only_what_another_wrote(
    control_plane: ControlPlane, qscaler_kubeconfig: Path, fresh: None
) -> None:
    """Its own entries are older than its memory; another leader's are newer."""
    counts = Counter[str]()
    first = store(qscaler_kubeconfig, Clock(0.0), counts)
    first.load()
    first.keep({REF: taught(), WorkloadRef("shop", "b"): taught()})
    first.load()  # the lead lost and regained, nobody wrote in between
    assert first.recall(REF) is None
    other = store(qscaler_kubeconfig, Clock(0.0), Counter())
    other.load()
    other.keep({REF: History(forecast=ForecastState(trust=0.25))})
    first.load()  # the lead moved away and back: the other's entry is newer
    memory = first.recall(REF)
    assert memory is not None
    assert memory.state.trust == 0.25
    assert first.recall(WorkloadRef("shop", "b")) is None


def test_a_store_it_may_not_read_is_never_written_and_never_raises(
    control_plane: ControlPlane, qscaler_kubeconfig: Path, fresh: None
) -> None:
    """deploy/'s RBAC grants the ConfigMap in qscaler's namespace only: elsewhere
    the read is refused (403), and a store that could not read writes nothing."""
    counts = Counter[str]()
    elsewhere = ForecastStore(
        make_api_client(qscaler_kubeconfig),
        NAME,
        "default",
        may_write=lambda: True,
        count=lambda operation, result: counts.update([f"{operation} {result}"]),
    )
    elsewhere.load()
    assert elsewhere.recall(REF) is None
    elsewhere.keep({REF: taught()})  # reads again instead of writing
    assert counts == {"read error": 2}


@pytest.fixture
def busy_queue(broker: Broker, vhost: str) -> Iterator[str]:
    """Queue "work" with a backlog that one real consumer (about 10 messages a
    second) works through while 5 more arrive each second: the throughput the
    forecast's state needs is learned, on busy consumers."""
    broker.declare_queues(vhost, "work")
    broker.publish(vhost, "work", 200)
    stop = threading.Event()

    def publish() -> None:
        while not stop.wait(1.0):
            broker.publish(vhost, "work", 5)

    def consume() -> None:
        connection = broker.connect(vhost)
        channel = connection.channel()
        channel.basic_qos(prefetch_count=1)

        def work(ch: object, method: object, _props: object, _body: bytes) -> None:
            time.sleep(0.1)
            channel.basic_ack(method.delivery_tag)  # type: ignore[attr-defined]

        channel.basic_consume("work", work)
        while not stop.is_set():
            connection.process_data_events(time_limit=0.2)
        connection.close()

    threads = [threading.Thread(target=f, daemon=True) for f in (publish, consume)]
    for thread in threads:
        thread.start()
    yield "work"
    stop.set()
    for thread in threads:
        thread.join(timeout=10)


def learning(
    control_plane: ControlPlane, vhost: str, namespace: str, queue: str, qscaler: QscalerProcess
) -> str:
    """Bind "worker" to `queue` and wait until `qscaler` holds its forecast's
    state; returns the workload's key in the ConfigMap, where nothing is yet.

    The forecast's state needs the throughput learned, which needs a reading
    before: the leader's first cycle has none, so its first save (which starts
    the interval) has nothing to write. With an hour between writes, nothing
    but the save on SIGTERM can write that state. At most 1 replica: no scale
    write for a stop to wait on.
    """
    annotations = {
        "qscaler.io/queues": queue,
        "qscaler.io/vhost": vhost,
        "qscaler.io/target-drain-seconds": "60",
        "qscaler.io/max-replicas": "1",
    }
    control_plane.deployment(namespace, "worker", 1, annotations, ENABLED)
    labels = {"namespace": namespace, "workload": "worker", "kind": "Deployment"}
    wait_for(
        "the forecast's state (it needs the throughput learned)",
        lambda: qscaler.metric("qscaler_forecast_trust", **labels) is not None,
        timeout=90,
    )
    key = entry_key(WorkloadRef(namespace, "worker"))
    assert key not in data_if_any(control_plane), "written within the hour"
    writes = {"operation": "write", "result": "ok"}
    assert not qscaler.metric("qscaler_forecast_store_operations_total", **writes)
    return key


@pytest.mark.rabbitmq
@pytest.mark.rabbitmq_versions("4.0.5")
def test_a_graceful_stop_saves_what_was_learned_since_the_last_write(
    control_plane: ControlPlane,
    vhost: str,
    namespace: str,
    busy_queue: str,
    start_qscaler: StartQscaler,
    fresh: None,
) -> None:
    """What the leader learned since its last write reaches the ConfigMap on SIGTERM."""
    qscaler = start_qscaler(forecast_store_seconds="3600")
    key = learning(control_plane, vhost, namespace, busy_queue, qscaler)

    assert qscaler.stop() == 0, qscaler.logs()
    saved = data_if_any(control_plane).get(key)
    assert saved is not None, qscaler.logs()
    assert json.loads(saved)["throughput"] is not None, saved
    assert "Traceback" not in qscaler.logs()


@pytest.mark.rabbitmq
@pytest.mark.rabbitmq_versions("4.0.5")
def test_a_graceful_stop_with_the_apiserver_silent_gives_the_save_up_and_exits_0(
    control_plane: ControlPlane,
    vhost: str,
    namespace: str,
    busy_queue: str,
    start_qscaler: StartQscaler,
    qscaler_kubeconfig: Path,
    tmp_path: Path,
    fresh: None,
) -> None:
    """The network to the apiserver goes silent just before SIGTERM: the save
    runs out of its time (half the renew deadline), is logged as a failed
    write, and the process exits 0 by itself, within the harness's 30 s (a
    pod's default grace period) before it would be killed."""
    api_port = int(control_plane.server.rsplit(":", 1)[1])
    with TcpFaultProxy("127.0.0.1", api_port) as proxy:
        kubeconfig = kubeconfig_through(proxy.port, qscaler_kubeconfig, tmp_path)
        qscaler = start_qscaler(kubeconfig=str(kubeconfig), forecast_store_seconds="3600")
        key = learning(control_plane, vhost, namespace, busy_queue, qscaler)
        proxy.freeze()
        assert qscaler.stop() == 0, qscaler.logs()
    assert "qscaler-forecast: write failed" in qscaler.logs()
    assert key not in data_if_any(control_plane)
    assert "Traceback" not in qscaler.logs()
