"""Fixtures of the broker fault matrix: proxies, a canary user, a second vhost.

qscaler reads the broker as a dedicated user whose password is a recognisable
canary, so every test can check that the secret shows up nowhere it reports
(Events, errors, /status, /metrics) on the error path it exercised.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from qscaler.core.workload import Workload
from qscaler.sources.management import ManagementSource
from tests.faults.rig import MakeRig, Rig
from tests.harness.faultproxy import HttpFaultProxy, TcpFaultProxy
from tests.harness.rabbitmq import Broker

#: Recognisable in any output; the random part keeps runs apart.
CANARY = f"Canary-Pw-{secrets.token_hex(4)}-qscaler"


@dataclass(frozen=True, slots=True)
class Reader:
    """The user qscaler reads the broker as."""

    name: str
    password: str


@pytest.fixture(scope="session")
def reader(broker: Broker) -> Iterator[Reader]:
    """A monitoring user with the canary password (granted per vhost by `grant`)."""
    user = Reader(f"qscaler-reader-{secrets.token_hex(3)}", CANARY)
    broker.create_user(user.name, user.password, tags="monitoring")
    yield user
    broker.delete_user(user.name)


@pytest.fixture
def vhost_b(broker: Broker, vhost: str, reader: Reader) -> Iterator[str]:
    """A second vhost for the healthy neighbour; the reader may read both."""
    name = f"{vhost}-b"
    broker.create_vhost(name)
    broker.grant(name, reader.name)
    broker.grant(vhost, reader.name)
    yield name
    broker.delete_vhost(name)


@pytest.fixture
def mgmt_proxy(broker: Broker) -> Iterator[HttpFaultProxy]:
    """The fault proxy in front of the real management API."""
    with HttpFaultProxy(broker.mgmt_url) as proxy:
        yield proxy


@pytest.fixture
def amqp_proxy(broker: Broker) -> Iterator[TcpFaultProxy]:
    """The fault proxy in front of the real AMQP port."""
    with TcpFaultProxy("127.0.0.1", broker.amqp_port) as proxy:
        yield proxy


@pytest.fixture
def mgmt_rig(mgmt_proxy: HttpFaultProxy, reader: Reader) -> Iterator[MakeRig]:
    """Build a Rig reading through the proxy (2 s request timeout) as the reader."""
    rigs: list[Rig] = []

    def make(workloads: list[Workload], timeout: float = 2.0, page_size: int = 0) -> Rig:
        source = ManagementSource.connect(
            mgmt_proxy.url,
            reader.name,
            reader.password,
            timeout_seconds=timeout,
            page_size=page_size,
        )
        rigs.append(Rig(source, workloads))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.source.close()
        assert CANARY not in rig.everything_reported(), "the password leaked"
