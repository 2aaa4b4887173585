"""Several brokers: the `qscaler.io/broker` annotation, the brokers file, and a
loop that reads each broker apart (with in-memory sources behind the loop's
own protocol; tests/e2e/test_brokers.py runs two real broker nodes)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from qscaler.app import make_source
from qscaler.bindings_file import StaticCluster
from qscaler.brokers import load_brokers
from qscaler.core.binding import ProcessDefaults, parse_binding
from qscaler.core.model import VhostSnapshot
from qscaler.errors import BindingError, SettingsError
from qscaler.loop import ControlLoop, LoopConfig
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.record.status import render_table, status_document
from qscaler.settings import load_settings
from qscaler.sources import VhostRequest
from tests.harness.memory import RecordingWriter
from tests.unit.test_loop import Broker, deploy

BROKERS = ProcessDefaults(brokers=("default", "payments", "orders-eu"))


def test_a_workload_names_its_broker() -> None:
    policy = parse_binding(
        {"qscaler.io/queues": "q", "qscaler.io/messages-per-replica": "5",
         "qscaler.io/broker": "payments"},
        BROKERS,
    )  # fmt: skip
    assert policy.queues.broker == "payments"


def test_without_the_annotation_the_default_broker() -> None:
    policy = parse_binding({"qscaler.io/queues": "q", "qscaler.io/messages-per-replica": "5"})
    assert policy.queues.broker == "default"


@pytest.mark.parametrize(
    ("name", "hint"),
    [("payment", "did you mean payments?"), ("zzz", "known: default, orders-eu, payments")],
    ids=["typo", "far-off"],
)
def test_an_unknown_broker_is_an_invalid_binding_with_a_hint(name: str, hint: str) -> None:
    with pytest.raises(BindingError) as caught:
        parse_binding(
            {"qscaler.io/queues": "q", "qscaler.io/messages-per-replica": "5",
             "qscaler.io/broker": name},
            BROKERS,
        )  # fmt: skip
    assert (
        str(caught.value)
        == f'qscaler.io/broker "{name}" is not a broker of the brokers file; {hint}'
    )


# --- the brokers file --------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "brokers.yaml"
    path.write_text(text)
    return path


def secret_files(tmp_path: Path) -> tuple[Path, Path]:
    user, password = tmp_path / "username", tmp_path / "password"
    user.write_text("qscaler\n")
    password.write_text("first\n")
    return user, password


def test_the_brokers_file_adds_named_brokers_and_rereads_credentials(tmp_path: Path) -> None:
    user, password = secret_files(tmp_path)
    path = write(
        tmp_path,
        f"""
brokers:
  - name: payments
    managementUrl: https://rabbit-payments:15671
    amqpUrl: amqps://rabbit-payments:5671
    usernameFile: {user}
    passwordFile: {password}
    tlsCaFile: {tmp_path}/ca.crt
  - name: metrics-only
    source: prometheus
    prometheusUrls: [http://node-0:15692, http://node-1:15692]
    usernameFile: {user}
    passwordFile: {password}
""",
    )
    brokers = load_brokers(load_settings(brokers_file=path))
    assert list(brokers) == ["default", "payments", "metrics-only"]
    payments = brokers["payments"]
    assert (payments.management_url, payments.amqp_url) == (
        "https://rabbit-payments:15671",
        "amqps://rabbit-payments:5671",
    )
    assert payments.tls_ca_file == tmp_path / "ca.crt"
    assert payments.credentials() == ("qscaler", "first")
    password.write_text("rotated\n")
    reread = payments.credentials_reader()
    assert reread is not None
    assert reread() == ("qscaler", "rotated")
    assert brokers["metrics-only"].prometheus_urls == ("http://node-0:15692", "http://node-1:15692")


def test_without_a_brokers_file_only_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QSCALER_BROKERS_FILE", raising=False)
    monkeypatch.delenv("QSCALER_AMQP_URL", raising=False)
    brokers = load_brokers(load_settings(management_url="http://rabbit:15672"))
    assert list(brokers) == ["default"]
    assert brokers["default"].management_url == "http://rabbit:15672"
    assert brokers["default"].amqp_url is None  # no AMQP URL given: no activation probe


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("password: hunter2", "password does not belong in the file; use passwordFile"),
        ("username: qscaler", "username does not belong in the file; use usernameFile"),
        ("source: amqp", "source amqp needs amqpUrl"),
        ("prometheusPort: 0", "prometheusPort: Input should be greater than or equal to 1"),
        ("sauce: management", "sauce: Extra inputs are not permitted"),
        ("tlsVerify: maybe", "tlsVerify: Input should be a valid boolean"),
        ("amqpUrl: amqp://u:hunter2@eu:99999", "amqpUrl: Value error, not a URL (Port out of"),
        ("prometheusUrls: ['http://[::1']", "prometheusUrls: Value error, not a URL (Invalid IPv6"),
    ],
    ids=[
        "password",
        "username",
        "amqp-url",
        "prometheus-port",
        "unknown-key",
        "bad-bool",
        "amqp-port",
        "prometheus-ipv6",
    ],
)
def test_a_bad_entry_is_one_line_naming_the_entry(tmp_path: Path, entry: str, message: str) -> None:
    user, password = secret_files(tmp_path)
    path = write(
        tmp_path,
        f"brokers:\n  - name: eu\n    managementUrl: http://eu:15672\n"
        f"    usernameFile: {user}\n    passwordFile: {password}\n    {entry}\n",
    )
    with pytest.raises(SettingsError) as caught:
        load_brokers(load_settings(brokers_file=path))
    assert f"brokers file {path}: entry 1 (eu): " in str(caught.value)
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("brokers: [\n", "not valid YAML"),
        ("- name: eu\n", "must be a mapping with a list `brokers:`"),
        ("# the brokers go here\n", "is empty; list the brokers under `brokers:`"),
        ("brokers:\n  - name: Bad_Name\n    managementUrl: x\n    usernameFile: u\n"
         "    passwordFile: p\n", "name must be lower-case letters"),
        ("brokers:\n  - {name: a, managementUrl: x, usernameFile: u, passwordFile: p}\n"
         "  - {name: a, managementUrl: y, usernameFile: u, passwordFile: p}\n",
         "broker a is declared twice"),
    ],
    ids=["yaml", "shape", "empty", "name", "twice"],
)  # fmt: skip
def test_a_bad_file_stops_qscaler_at_start_up(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_brokers(load_settings(brokers_file=write(tmp_path, text)))
    assert message in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"absent\.yaml: cannot read"):
        load_brokers(load_settings(brokers_file=tmp_path / "absent.yaml"))


# --- the loop --------------------------------------------------------------------------------


def test_one_broker_down_holds_only_its_workloads() -> None:
    default = Broker({"/": {"orders": 50}})
    payments = Broker({"/": {"orders": 90}}, down=frozenset({"/"}))
    eu = Broker({"/": {"orders": 30}})
    on = {"payments": "payments", "eu": "orders-eu"}
    workloads = [
        deploy("a", queues="orders"),
        deploy("b", queues="orders", broker=on["payments"]),
        deploy("c", queues="orders", broker=on["eu"]),
    ]
    registry = CollectorRegistry()
    reporter = OutcomeRecorder(Metrics(registry), wall_clock=lambda: 1_700_000_000.0)
    writer = RecordingWriter()
    loop = ControlLoop(
        StaticCluster(workloads), default, writer, reporter, clock=lambda: default.now,
        config=LoopConfig(defaults=BROKERS),
        brokers={"payments": payments, "orders-eu": eu},
    )  # fmt: skip
    report = loop.cycle()

    by_name = {o.ref.name: o for o in report.outcomes}
    # The same vhost and queue name on three brokers are three different queues.
    desired = {n: o.decision.desired if o.decision else None for n, o in by_name.items()}
    assert (desired["a"], desired["c"]) == (5, 3)
    held = by_name["b"]
    assert held.reason is not None
    assert held.reason.value == "SourceError"
    assert held.observation is not None
    assert (held.observation.error or "").startswith("broker payments: vhost /: connection refused")
    assert sorted(name for name, _ in writer.writes) == ["a", "c"]
    # One request per broker and vhost, each to its own broker.
    assert [len(b.requests) for b in (default, payments, eu)] == [1, 1, 1]
    assert report.source_errors == {"payments:/": "broker payments: vhost /: connection refused"}

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert (
        sample("qscaler_source_errors_total", broker="payments", vhost="/", kind="unavailable") == 1
    )
    assert sample("qscaler_source_reads_total", broker="orders-eu", vhost="/") == 1
    assert sample("qscaler_last_successful_poll_timestamp_seconds", broker="default", vhost="/")
    assert (
        sample("qscaler_last_successful_poll_timestamp_seconds", broker="payments", vhost="/")
        is None
    )
    assert "orders-eu//:orders" not in render_table(status_document(report))
    assert "orders-eu/orders" in render_table(status_document(report))


def test_the_deploy_overlay_s_brokers_file_loads() -> None:
    path = Path(__file__).resolve().parents[2] / "deploy" / "overlays" / "brokers" / "brokers.yaml"
    brokers = load_brokers(load_settings(brokers_file=path))
    assert list(brokers) == ["default", "payments", "eu"]
    assert brokers["payments"].tls_ca_file == Path("/etc/qscaler/rabbitmq-payments/ca.crt")


def test_each_broker_gets_a_source_of_its_own_kind(tmp_path: Path) -> None:
    user, password = secret_files(tmp_path)
    path = write(
        tmp_path,
        f"""
brokers:
  - name: by-nodes
    source: prometheus
    prometheusUrls: [http://node-0:15692, http://node-1:15692]
    usernameFile: {user}
    passwordFile: {password}
  - name: over-amqp
    source: amqp
    amqpUrl: amqp://rabbit-b:5672
    usernameFile: {user}
    passwordFile: {password}
""",
    )
    brokers = load_brokers(load_settings(brokers_file=path))
    sources = {name: make_source(broker) for name, broker in brokers.items()}
    try:
        assert [type(s).__name__ for s in sources.values()] == [
            "ManagementSource", "PrometheusSource", "AmqpSource",
        ]  # fmt: skip
        nodes = sources["by-nodes"]._nodes  # type: ignore[attr-defined]
        assert list(nodes.urls()) == ["http://node-0:15692", "http://node-1:15692"]
    finally:
        for source in sources.values():
            source.close()


def test_each_broker_is_read_on_its_own_thread() -> None:
    """The default broker's read waits until the second broker has been read:
    read one after the other on one thread, it would wait in vain."""
    second_read = threading.Event()
    waited: list[bool] = []

    class Waiting(Broker):
        def read(self, request: VhostRequest) -> VhostSnapshot:
            waited.append(second_read.wait(timeout=60))
            return super().read(request)

    class Signalling(Broker):
        def read(self, request: VhostRequest) -> VhostSnapshot:
            second_read.set()
            return super().read(request)

    default, second = Waiting({"/": {"a": 10}}), Signalling({"/": {"b": 20}})
    workloads = [deploy("a", queues="a"), deploy("b", queues="b", broker="payments")]
    reporter = OutcomeRecorder(Metrics(CollectorRegistry()), wall_clock=lambda: 1_700_000_000.0)
    loop = ControlLoop(
        StaticCluster(workloads), default, RecordingWriter(), reporter, clock=lambda: 100.0,
        config=LoopConfig(defaults=BROKERS), brokers={"payments": second},
    )  # fmt: skip
    try:
        report = loop.cycle()
    finally:
        loop.reader.close()
    assert waited == [True]
    assert [o.decision.desired if o.decision else None for o in report.outcomes] == [1, 2]
