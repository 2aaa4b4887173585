"""Security, broker side, through real `qscaler run --bindings` processes.

* The password never leaves the process: a recognisable canary password (in
  the password file, and in the management URL's userinfo for good measure)
  is searched for in the process's whole log (DEBUG, JSON), /metrics and
  /status after qscaler went through every broker error path of the fault
  matrix, including a real password rotation. The logs must show each path
  was taken, so the search cannot pass by never failing.
* TLS to the management API is verified by default: the test broker's
  self-signed certificate fails without QSCALER_TLS_CA_FILE and works with it.
* QSCALER_METRICS_ADDRESS=127.0.0.1 keeps /metrics and /status off the
  network: checked on the listening socket itself, and by connecting to a
  non-loopback address of this machine.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.faults.conftest import CANARY, Reader
from tests.harness.faultproxy import Answer, Hang, HttpFaultProxy, Rule, Truncate
from tests.harness.k8s import wait_for
from tests.harness.qscaler_process import QscalerProcess
from tests.harness.rabbitmq import Broker

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


Start = Callable[..., QscalerProcess]


@pytest.fixture
def start_qscaler(tmp_path: Path, reader: Reader, vhost: str, broker: Broker) -> Iterator[Start]:
    """Start `qscaler run --bindings` reading `vhost` as the canary reader."""
    broker.grant(vhost, reader.name)
    password_file = tmp_path / "password"
    password_file.write_text(reader.password + "\n")
    bindings = tmp_path / "bindings.yaml"
    annotations = {
        "qscaler.io/queues": "work",
        "qscaler.io/vhost": vhost,
        "qscaler.io/messages-per-replica": "10",
        "qscaler.io/min-replicas": "0",
        "qscaler.io/cooldown": "0",
    }
    bindings.write_text(
        yaml.safe_dump({"workloads": [{"name": "victim", "annotations": annotations}]})
    )
    started: list[QscalerProcess] = []

    def start(url: str, name: str = "qscaler", **settings: str) -> QscalerProcess:
        env = {
            "QSCALER_MANAGEMENT_URL": url,
            "QSCALER_USERNAME": reader.name,
            "QSCALER_PASSWORD_FILE": str(password_file),
            "QSCALER_POLL_INTERVAL_SECONDS": "0.5",
            "QSCALER_REQUEST_TIMEOUT_SECONDS": "1",
            "QSCALER_LOG_LEVEL": "DEBUG",
            **settings,
        }
        started.append(QscalerProcess(tmp_path, name, env, bindings).start())
        return started[-1]

    yield start
    for process in started:
        process.stop()


def errors(process: QscalerProcess, vhost: str, kind: str) -> float:
    return (
        process.metric("qscaler_source_errors_total", broker="default", vhost=vhost, kind=kind)
        or 0.0
    )


def desired(process: QscalerProcess) -> float | None:
    return process.metric(
        "qscaler_replicas_desired", namespace="default", workload="victim", kind="Deployment"
    )


def test_the_password_never_appears_in_logs_metrics_or_status_on_any_error_path(
    broker: Broker,
    vhost: str,
    reader: Reader,
    start_qscaler: Start,
    tmp_path: Path,
) -> None:
    """Refused, 503, silent, truncated, malformed, 401 from a proxy, a real
    password rotation (old and new password both canaries) and a deleted queue:
    after all of them, neither password nor the Basic credentials appear in the
    process's output, /metrics or /status."""
    broker.declare_queues(vhost, "work")
    broker.publish(vhost, "work", 30)
    proxy = HttpFaultProxy(broker.mgmt_url)
    rotated = CANARY + "-rotated"
    try:
        url = f"http://{reader.name}:{CANARY}@127.0.0.1:{proxy.port}"
        qscaler = start_qscaler(url)
        wait_for("a first decision (desired 3)", lambda: desired(qscaler) == 3)

        def through(rule: Rule | None, kind: str, evidence: str) -> None:
            """Inject the fault until it was counted and logged, then clear it."""
            before = errors(qscaler, vhost, kind)
            if rule is None:
                proxy.refuse()
            else:
                proxy.set(rule)
            wait_for(
                f"a {kind} error saying {evidence!r}",
                lambda: errors(qscaler, vhost, kind) > before and evidence in qscaler.logs(),
                timeout=30,
            )
            proxy.accept()
            proxy.clear()

        through(None, "unavailable", "cannot connect")
        through(Rule(Answer(503, b'{"error": "x", "reason": "busy"}')), "unavailable", "HTTP 503")
        through(Rule(Hang()), "unavailable", "timed out")
        through(Rule(Truncate(keep=10)), "unavailable", "request failed")
        through(Rule(Answer(200, b"{not json")), "data", "not valid JSON")
        through(Rule(Answer(401, b'{"error": "x", "reason": "nope"}')), "auth", "HTTP 401")

        before = errors(qscaler, vhost, "auth")
        broker.create_user(reader.name, rotated, tags="monitoring")
        wait_for("a real 401", lambda: errors(qscaler, vhost, "auth") > before, timeout=30)
        (tmp_path / "password").write_text(rotated + "\n")
        broker.publish(vhost, "work", 20)
        wait_for("the new password picked up (desired 5)", lambda: desired(qscaler) == 5)

        broker.delete_queues(vhost, "work")
        held = {"namespace": "default", "workload": "victim", "kind": "Deployment"}
        wait_for(
            "QueueMissing",
            lambda: qscaler.metric("qscaler_held_back", reason="QueueMissing", **held) == 1,
        )
        metrics, status, logs = qscaler.metrics(), qscaler.get("/status")[1], qscaler.logs()
    finally:
        proxy.close()
        broker.create_user(reader.name, CANARY, tags="monitoring")

    assert "queue not found" in logs
    basic = base64.b64encode(f"{reader.name}:{CANARY}".encode()).decode()
    for secret in (CANARY, rotated, basic, base64.b64encode(rotated.encode()).decode()):
        for where, text in (("logs", logs), ("/metrics", metrics), ("/status", status)):
            assert secret not in text, f"a secret leaked into {where}"
    assert json.loads(status)["workloads"][0]["reason"] == "QueueMissing"


def test_tls_to_the_management_api_is_verified_unless_the_ca_is_given(
    broker: Broker, vhost: str, start_qscaler: Start
) -> None:
    """The broker's HTTPS listener has a certificate from the tests' own CA: with
    the default settings the process refuses it (kind=unavailable, and the log
    says how to fix it); with QSCALER_TLS_CA_FILE it reads and decides."""
    broker.declare_queues(vhost, "work")
    broker.publish(vhost, "work", 30)
    untrusting = start_qscaler(broker.https_url, name="no-ca")
    wait_for("a TLS failure", lambda: errors(untrusting, vhost, "unavailable") >= 2)
    assert desired(untrusting) == 1, "held at its count, never fed unverified data"
    held = {"namespace": "default", "workload": "victim", "kind": "Deployment"}
    assert untrusting.metric("qscaler_held_back", reason="SourceError", **held) == 1
    assert "certificate verification failed" in untrusting.logs()
    assert "QSCALER_TLS_CA_FILE" in untrusting.logs()

    trusting = start_qscaler(broker.https_url, name="ca", QSCALER_TLS_CA_FILE=broker.ca_file)
    wait_for("a decision over verified TLS", lambda: desired(trusting) == 3)
    assert errors(trusting, vhost, "unavailable") == 0


def listening(port: int) -> set[str]:
    """Addresses a TCP socket listens on at `port` (IPv4, from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(str(ipaddress.IPv4Address(bytes.fromhex(address)[::-1])))
    return found


def outward_address() -> str | None:
    """A non-loopback IPv4 address of this machine, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent for UDP connect
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


def test_metrics_and_status_can_be_bound_to_loopback_only(
    broker: Broker, vhost: str, start_qscaler: Start
) -> None:
    """QSCALER_METRICS_ADDRESS=127.0.0.1 listens on 127.0.0.1 alone, and another
    address of this machine is refused; the default 0.0.0.0 (a pod serving its
    own IP) is what the check tells apart."""
    local = start_qscaler(broker.mgmt_url, name="loopback", QSCALER_METRICS_ADDRESS="127.0.0.1")
    assert listening(local.port) == {"127.0.0.1"}
    address = outward_address()
    if address is not None:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, local.port), timeout=5).close()

    anywhere = "0.0.0.0"  # noqa: S104 - the contrast: what a pod does by default
    everywhere = start_qscaler(broker.mgmt_url, name="any", QSCALER_METRICS_ADDRESS=anywhere)
    assert listening(everywhere.port) == {anywhere}
    if address is not None:
        socket.create_connection((address, everywhere.port), timeout=5).close()
