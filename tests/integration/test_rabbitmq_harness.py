"""The test broker itself: isolated, loopback-only, restartable, and gone when stopped.

Everything else in tests/integration trusts these properties; a harness that
listened on every interface, lost data on restart or left an Erlang VM or an
epmd behind would be a bug users of the test suite (and CI machines) notice.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import httpx
import pytest

from qscaler.errors import SourceDataError
from qscaler.sources import VhostRequest
from qscaler.sources.amqp import AmqpSource
from qscaler.sources.management import ManagementSource
from tests.harness.rabbitmq import Broker, BrokerStartError, poll_until

pytestmark = pytest.mark.rabbitmq


def listening(port: int) -> set[str]:
    """Addresses with a TCP socket listening on `port`, from /proc/net/tcp{,6}."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                # the kernel prints each 32-bit word in host (little-endian) order
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))
                found.add(str(ipaddress.ip_address(words)))
    return found


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_every_listener_is_loopback_only(broker: Broker) -> None:
    ports = broker.ports
    assert set(ports) >= {"amqp", "amqps", "mgmt", "mgmt_tls", "prometheus", "dist", "epmd"}
    for name, port in ports.items():
        addresses = listening(port)
        assert addresses, f"nothing listens on the {name} port {port}"
        assert addresses <= {"127.0.0.1", "::1"}, f"{name} listens on {addresses}"


def test_prometheus_plugin_answers(broker: Broker) -> None:
    response = httpx.get(f"{broker.prometheus_url}/metrics", timeout=30)
    assert response.status_code == 200
    assert "rabbitmq_" in response.text


def test_guest_user_does_not_exist(broker: Broker) -> None:
    response = httpx.get(f"{broker.mgmt_url}/api/overview", auth=("guest", "guest"), timeout=30)
    assert response.status_code == 401


@pytest.mark.slow
def test_restart_keeps_data_and_both_sources_recover(tmp_path: Path, rabbitmq_version: str) -> None:
    node = Broker(tmp_path / "rabbitmq", version=rabbitmq_version)
    node.start()
    try:
        node.create_vhost("kept")
        node.declare_queues("kept", "durable", durable=True)
        node.publish("kept", "durable", 6, persistent=True)
        request = VhostRequest("kept", frozenset({"durable"}))
        amqp = AmqpSource(node.amqp_url, node.user, node.password)
        http = ManagementSource.connect(node.mgmt_url, node.user, node.password)
        try:
            assert amqp.read(request).queues["durable"].messages_ready == 6
            node.restart()
            assert amqp.read(request).queues["durable"].messages_ready == 6  # reconnected
            poll_until(
                "the management API to count the recovered queue",
                lambda: http.read(request),
                lambda s: "durable" in s.queues and s.queues["durable"].messages_ready == 6,
                retry_on=(SourceDataError,),
            )
        finally:
            amqp.close()
            http.close()
    finally:
        pids = node.pids
        node.stop()
    assert not [name for name, pid in pids.items() if alive(pid)]
    assert not (tmp_path / "rabbitmq").exists()


@pytest.mark.slow
def test_node_that_cannot_start_fails_loudly_and_leaves_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        node = Broker(tmp_path / "rabbitmq", settings={"QSCALER_RABBITMQ_AMQP_PORT": port})
        with pytest.raises(BrokerStartError, match="did not become ready") as caught:
            node.start()
    assert port in str(caught.value)  # the log tail says which listener failed
    assert {"server", "epmd"} <= set(node.pids)
    assert not [name for name, pid in node.pids.items() if alive(pid)]
