"""AmqpSource against a real RabbitMQ: passive declares on long-lived connections.

A passive declare answers in real time (no statistics interval), so most
expectations here hold on the first read; only what the management API is
asked about (connections) is polled for.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from qscaler.errors import SourceAuthError, SourceError, SourceUnavailable
from qscaler.sources import VhostRequest
from qscaler.sources.amqp import AmqpSource
from tests.harness.rabbitmq import Broker, poll_until

pytestmark = pytest.mark.rabbitmq

SECRET = "Qscaler-Amqp-Pw-91c2"  # recognisable, so a leak is easy to find


@pytest.fixture
def name() -> str:
    """A connection name unique to the test, to find its connections on the broker."""
    return f"qscaler-test-{secrets.token_hex(4)}"


@pytest.fixture
def source(broker: Broker, name: str) -> Iterator[AmqpSource]:
    made = AmqpSource(broker.amqp_url, broker.user, broker.password, connection_name=name)
    yield made
    made.close()


def connections(broker: Broker, connection_name: str) -> list[str]:
    listed = broker.api.get(
        "/api/connections", params={"columns": "name,vhost,client_properties.connection_name"}
    ).json()
    return sorted(
        c["vhost"]
        for c in listed
        if c.get("client_properties", {}).get("connection_name") == connection_name
    )


def test_ready_messages_and_consumers(broker: Broker, vhost: str, source: AmqpSource) -> None:
    broker.declare_queues(vhost, "orders")
    broker.publish(vhost, "orders", 12)
    holder = broker.hold(vhost, "orders", 2)
    try:
        snapshot = source.read(VhostRequest(vhost, frozenset({"orders"})))
    finally:
        holder.close()
    orders = snapshot.queues["orders"]
    assert (orders.messages_ready, orders.consumers) == (10, 1)
    assert orders.messages_unacknowledged is None  # a passive declare cannot see them
    assert (orders.publish_rate, orders.ack_rate) == (None, None)


def test_missing_queue_does_not_stop_the_others(
    broker: Broker, vhost: str, source: AmqpSource
) -> None:
    broker.declare_queues(vhost, "b-present", "d-present")
    broker.publish(vhost, "d-present", 3)
    request = VhostRequest(vhost, frozenset({"a-absent", "b-present", "c-absent", "d-present"}))
    snapshot = source.read(request)  # each 404 closes the channel; the next name gets a new one
    assert snapshot.missing == {"a-absent", "c-absent"}
    assert {n: q.messages_ready for n, q in snapshot.queues.items()} == {
        "b-present": 0,
        "d-present": 3,
    }
    assert source.read(request).missing == {"a-absent", "c-absent"}


def test_odd_names_and_slash_vhost(broker: Broker, source: AmqpSource) -> None:
    vhost = f"a/b-{secrets.token_hex(3)}"
    odd = ("x/y z%#?é✓", "..", "100%")
    broker.create_vhost(vhost)
    try:
        broker.declare_queues(vhost, *odd)
        broker.publish(vhost, "x/y z%#?é✓", 2)
        snapshot = source.read(VhostRequest(vhost, frozenset(odd)))
        assert snapshot.queues["x/y z%#?é✓"].messages_ready == 2
        assert set(snapshot.queues) == set(odd)
    finally:
        broker.delete_vhost(vhost)


def test_listing_is_refused_with_a_pointer_to_the_management_api(
    vhost: str, source: AmqpSource
) -> None:
    with pytest.raises(SourceError, match="use the management API"):
        source.read(VhostRequest(vhost, listing=True))


def test_wrong_password_is_an_auth_error_without_the_password(broker: Broker, vhost: str) -> None:
    source = AmqpSource(broker.amqp_url, broker.user, SECRET)
    with pytest.raises(SourceAuthError) as caught:
        source.read(VhostRequest(vhost, frozenset({"q"})))
    source.close()
    message = str(caught.value)
    assert SECRET not in message
    assert SECRET not in repr(source)
    assert f"check the user/password or the user's permissions on vhost {vhost!r}" in message


def test_user_without_access_to_the_vhost_is_an_auth_error(broker: Broker, vhost: str) -> None:
    user = f"reader-{secrets.token_hex(3)}"
    broker.create_user(user, SECRET)
    source = AmqpSource(broker.amqp_url, user, SECRET)
    try:
        with pytest.raises(SourceAuthError, match=f"permissions on vhost {vhost!r}") as caught:
            source.read(VhostRequest(vhost, frozenset({"q"})))
        assert SECRET not in str(caught.value)
    finally:
        source.close()
        broker.delete_user(user)


def test_passive_declare_needs_no_queue_permissions(broker: Broker, vhost: str) -> None:
    user = f"reader-{secrets.token_hex(3)}"
    broker.create_user(user, SECRET)
    broker.grant(vhost, user, configure="", rw="")
    broker.declare_queues(vhost, "q")
    broker.publish(vhost, "q", 1)
    source = AmqpSource(broker.amqp_url, user, SECRET)
    try:
        assert source.read(VhostRequest(vhost, frozenset({"q"}))).queues["q"].messages_ready == 1
    finally:
        source.close()
        broker.delete_user(user)


def test_missing_vhost_is_named(source: AmqpSource) -> None:
    with pytest.raises(SourceError, match="vhost 'no-such-vhost' does not exist"):
        source.read(VhostRequest("no-such-vhost", frozenset({"q"})))


def test_tls_without_the_ca_fails_verification(broker: Broker, vhost: str) -> None:
    source = AmqpSource(broker.amqps_url, broker.user, broker.password)
    with pytest.raises(SourceUnavailable, match="certificate verification failed"):
        source.read(VhostRequest(vhost, frozenset({"q"})))
    source.close()


def test_tls_with_the_ca_reads(broker: Broker, vhost: str) -> None:
    broker.declare_queues(vhost, "secure")
    broker.publish(vhost, "secure", 5)
    source = AmqpSource(broker.amqps_url, broker.user, broker.password, ca_file=broker.ca_file)
    try:
        snapshot = source.read(VhostRequest(vhost, frozenset({"secure"})))
    finally:
        source.close()
    assert snapshot.queues["secure"].messages_ready == 5


def test_refused_connection_is_unavailable_without_the_password() -> None:
    source = AmqpSource("amqp://127.0.0.1:1", "u", SECRET)
    with pytest.raises(SourceUnavailable, match="cannot connect") as caught:
        source.read(VhostRequest("v", frozenset({"q"})))
    assert SECRET not in str(caught.value)


def test_one_connection_per_vhost_reused_across_reads(
    broker: Broker, vhost: str, source: AmqpSource, name: str
) -> None:
    other = f"{vhost}-2"
    broker.create_vhost(other)
    try:
        for _ in range(3):
            source.read(VhostRequest(vhost, frozenset({"q"})))
            source.read(VhostRequest(other, frozenset({"q"})))
        poll_until(
            "one connection for each vhost",
            lambda: connections(broker, name),
            lambda found: found == sorted([vhost, other]),
        )
    finally:
        broker.delete_vhost(other)


def test_connection_closed_by_the_broker_is_replaced_on_the_next_read(
    broker: Broker, vhost: str, source: AmqpSource, name: str
) -> None:
    broker.declare_queues(vhost, "q")
    request = VhostRequest(vhost, frozenset({"q"}))
    source.read(request)
    poll_until("the source's connection listed", lambda: connections(broker, name))
    assert broker.close_connections(name) == 1
    broker.publish(vhost, "q", 7)
    assert source.read(request).queues["q"].messages_ready == 7
