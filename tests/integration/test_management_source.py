"""ManagementSource against a real RabbitMQ (Debian's 3.10.8, started by the harness).

Queues are declared and filled over AMQP, consumers hold messages
unacknowledged for real, and the assertions are on what the source reports.
The management API refreshes once per statistics interval, so every
expectation is polled for (bounded), never slept for.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable, Iterator

import httpx
import pytest

from qscaler.core.model import VhostSnapshot
from qscaler.errors import SourceAuthError, SourceDataError, SourceError, SourceUnavailable
from qscaler.sources import VhostRequest
from qscaler.sources.management import ManagementSource
from tests.harness.rabbitmq import Broker, poll_until

pytestmark = pytest.mark.rabbitmq

ODD_NAMES = ("x/y z%#?é✓", "100%", "#hash", "?query", "a+b&c=d", "..", ".", "trailing/")


@pytest.fixture
def source(broker: Broker) -> Iterator[ManagementSource]:
    """A source built the way `qscaler run` builds it, against plain HTTP."""
    made = ManagementSource.connect(broker.mgmt_url, broker.user, broker.password)
    yield made
    made.close()


def read_until(
    source: ManagementSource,
    request: VhostRequest,
    done: Callable[[VhostSnapshot], bool],
    what: str,
) -> VhostSnapshot:
    """Read until `done`; "not counted yet" errors count as not yet."""
    return poll_until(what, lambda: source.read(request), done, retry_on=(SourceDataError,))


def names(*values: str) -> frozenset[str]:
    return frozenset(values)


def ready(snapshot: VhostSnapshot, name: str) -> int | None:
    queue = snapshot.queues.get(name)
    return queue.messages_ready if queue else None


# --- what users scale on ---------------------------------------------------------------


def test_depth_of_published_messages(broker: Broker, vhost: str, source: ManagementSource) -> None:
    broker.declare_queues(vhost, "orders")
    broker.publish(vhost, "orders", 25)
    request = VhostRequest(vhost, names("orders"))
    snapshot = read_until(source, request, lambda s: ready(s, "orders") == 25, "25 ready")
    orders = snapshot.queues["orders"]
    assert (orders.messages_unacknowledged, orders.consumers) == (0, 0)
    assert snapshot.missing == frozenset()


def test_consumer_holding_messages_is_unacked_and_counted(
    broker: Broker, vhost: str, source: ManagementSource
) -> None:
    broker.declare_queues(vhost, "work")
    broker.publish(vhost, "work", 10)
    request = VhostRequest(vhost, names("work"))
    holder = broker.hold(vhost, "work", 4)
    try:
        # Counts and consumers are emitted separately: wait for both to catch up.
        held = read_until(
            source,
            request,
            lambda s: (
                "work" in s.queues
                and (s.queues["work"].messages_unacknowledged, s.queues["work"].consumers) == (4, 1)
            ),
            "4 unacked by one consumer",
        ).queues["work"]
        assert held.messages_ready == 6
    finally:
        holder.close()
    released = read_until(
        source,
        request,
        lambda s: ready(s, "work") == 10 and s.queues["work"].consumers == 0,
        "messages requeued, consumer gone",
    ).queues["work"]
    assert released.messages_unacknowledged == 0


def test_rates_appear_only_after_traffic(
    broker: Broker, vhost: str, source: ManagementSource
) -> None:
    broker.declare_queues(vhost, "rated")
    request = VhostRequest(vhost, names("rated"))
    idle = read_until(source, request, lambda s: "rated" in s.queues, "counted").queues["rated"]
    assert (idle.publish_rate, idle.ack_rate) == (None, None)

    def traffic_then_read() -> VhostSnapshot:
        broker.publish(vhost, "rated", 5)
        broker.consume(vhost, "rated", 5)
        return source.read(request)

    busy = poll_until(
        "publish and ack rates above zero",
        traffic_then_read,
        lambda s: (
            (s.queues["rated"].publish_rate or 0) > 0 and (s.queues["rated"].ack_rate or 0) > 0
        ),
    )
    assert busy.queues["rated"].messages_ready >= 0


def test_missing_bound_queue_is_reported_missing(
    broker: Broker, vhost: str, source: ManagementSource
) -> None:
    broker.declare_queues(vhost, "present")
    request = VhostRequest(vhost, names("present", "absent"))
    snapshot = read_until(source, request, lambda s: "present" in s.queues, "present counted")
    assert snapshot.missing == {"absent"}
    assert "absent" not in snapshot.queues


def test_read_at_comes_from_the_injected_clock(broker: Broker, vhost: str) -> None:
    source = ManagementSource.connect(
        broker.mgmt_url, broker.user, broker.password, clock=lambda: 1234.5
    )
    try:
        assert source.read(VhostRequest(vhost, listing=True)).read_at == 1234.5
    finally:
        source.close()


# --- names that need encoding ---------------------------------------------------------------


def test_default_vhost_slash(broker: Broker, source: ManagementSource) -> None:
    queue = f"qscaler-test-{secrets.token_hex(4)}"
    broker.declare_queues("/", queue)
    try:
        broker.publish("/", queue, 3)
        snapshot = read_until(
            source, VhostRequest("/", names(queue)), lambda s: ready(s, queue) == 3, "3 in /"
        )
        assert snapshot.vhost == "/"
    finally:
        broker.delete_queues("/", queue)


def test_vhost_with_a_slash_in_its_name(broker: Broker, source: ManagementSource) -> None:
    vhost = f"a/b-{secrets.token_hex(3)}"
    broker.create_vhost(vhost)
    try:
        broker.declare_queues(vhost, "q")
        broker.publish(vhost, "q", 2)
        for request in (VhostRequest(vhost, names("q")), VhostRequest(vhost, listing=True)):
            read_until(source, request, lambda s: ready(s, "q") == 2, f"2 ready via {request}")
    finally:
        broker.delete_vhost(vhost)


def test_odd_queue_names_one_by_one_and_listed(
    broker: Broker, vhost: str, source: ManagementSource
) -> None:
    broker.declare_queues(vhost, *ODD_NAMES)
    for i, name in enumerate(ODD_NAMES, start=1):
        broker.publish(vhost, name, i)
    expected = {name: i for i, name in enumerate(ODD_NAMES, start=1)}

    def all_right(snapshot: VhostSnapshot) -> bool:
        return {n: q.messages_ready for n, q in snapshot.queues.items()} == expected

    read_until(source, VhostRequest(vhost, listing=True), all_right, "listing of odd names")
    for name in ODD_NAMES:  # one name per request: the single-queue path where addressable

        def listed(s: VhostSnapshot, n: str = name) -> bool:
            return n in s.queues

        one = read_until(source, VhostRequest(vhost, names(name)), listed, name)
        assert one.queues[name].messages_ready == expected[name]
        assert one.missing == frozenset()


# --- listing across pages ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("page_size", "requests"), [(0, 1), (500, 3)], ids=["unpaged", "paged"])
def test_listing_1100_queues_takes_one_request_or_one_per_page(
    broker: Broker, vhost: str, page_size: int, requests: int
) -> None:
    queues = [f"q{i:04d}" for i in range(1100)]
    broker.declare_queues(vhost, *queues)
    source = ManagementSource.connect(
        broker.mgmt_url, broker.user, broker.password, page_size=page_size
    )
    try:
        request = VhostRequest(vhost, listing=True)
        read_until(source, request, lambda s: len(s.queues) == 1100, "1,100 queues counted")
        before = source.requests_made
        snapshot = source.read(request)
        assert source.requests_made - before == requests
        assert sorted(snapshot.queues) == queues
        # The size is learned: a few exact names are cheaper one by one.
        before = source.requests_made
        few = source.read(VhostRequest(vhost, frozenset(queues[:3])))
        assert source.requests_made - before == 3
        assert sorted(few.queues) == queues[:3]
    finally:
        source.close()


@pytest.mark.slow
def test_queues_deleted_while_paging_are_not_reported(broker: Broker, vhost: str) -> None:
    queues = [f"q{i:04d}" for i in range(1100)]
    broker.declare_queues(vhost, *queues)
    doomed, survivors = queues[:700], queues[700:]
    state = {"armed": False}

    def delete_after_first_page(response: httpx.Response) -> None:
        if state["armed"] and response.request.url.params.get("page") == "1":
            state["armed"] = False
            broker.delete_queues(vhost, *doomed)

    client = httpx.Client(
        base_url=broker.mgmt_url,
        auth=(broker.user, broker.password),
        event_hooks={"response": [delete_after_first_page]},
    )
    source = ManagementSource(client, owns_client=True, page_size=500)
    try:
        request = VhostRequest(vhost, listing=True)
        read_until(source, request, lambda s: len(s.queues) == 1100, "1,100 queues counted")
        state["armed"] = True
        before = source.requests_made
        snapshot = source.read(request)
        # page 1 (1,100 queues), page 2 past the new end (400 left), page 1 again
        assert source.requests_made - before == 3
        assert sorted(snapshot.queues) == survivors
        assert snapshot.missing == frozenset()
    finally:
        source.close()


# --- errors an operator has to act on ------------------------------------------------------------

SECRET = "Qscaler-Test-Pw-7f3a"  # recognisable, so a leak is easy to find


def test_wrong_password_is_an_auth_error_without_the_password(broker: Broker, vhost: str) -> None:
    source = ManagementSource.connect(broker.mgmt_url, broker.user, SECRET)
    try:
        with pytest.raises(SourceAuthError) as caught:
            source.read(VhostRequest(vhost, names("q")))
    finally:
        source.close()
    message = str(caught.value)
    assert SECRET not in message
    assert SECRET not in repr(source)
    assert f"check the user/password or the user's permissions on vhost {vhost!r}" in message


def test_user_without_access_to_the_vhost_is_an_auth_error(broker: Broker, vhost: str) -> None:
    user = f"monitor-{secrets.token_hex(3)}"
    broker.create_user(user, SECRET, tags="monitoring")
    source = ManagementSource.connect(broker.mgmt_url, user, SECRET)
    try:
        with pytest.raises(SourceAuthError, match="not authorised to access virtual host"):
            source.read(VhostRequest(vhost, listing=True))
    finally:
        source.close()
        broker.delete_user(user)


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(VhostRequest("no-such-vhost", names("q")), id="by-name"),
        pytest.param(VhostRequest("no-such-vhost", listing=True), id="listing"),
    ],
)
def test_missing_vhost_is_named(source: ManagementSource, request_: VhostRequest) -> None:
    with pytest.raises(SourceError, match="vhost 'no-such-vhost' does not exist"):
        source.read(request_)


def test_tls_without_the_ca_fails_verification(broker: Broker, vhost: str) -> None:
    source = ManagementSource.connect(broker.https_url, broker.user, broker.password)
    try:
        with pytest.raises(SourceUnavailable, match="certificate verification failed"):
            source.read(VhostRequest(vhost, listing=True))
    finally:
        source.close()


def test_tls_with_the_ca_reads(broker: Broker, vhost: str) -> None:
    broker.declare_queues(vhost, "secure")
    broker.publish(vhost, "secure", 4)
    source = ManagementSource.connect(
        broker.https_url, broker.user, broker.password, ca_file=broker.ca_file
    )
    try:
        read_until(
            source, VhostRequest(vhost, names("secure")), lambda s: ready(s, "secure") == 4, "TLS"
        )
    finally:
        source.close()


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = ManagementSource.connect(f"http://u:{SECRET}@127.0.0.1:{port}", "u", SECRET)
    with pytest.raises(SourceUnavailable, match="cannot connect") as caught:
        source.read(VhostRequest("v", listing=True))
    assert SECRET not in str(caught.value)
    source.close()


def test_silent_server_times_out_as_unavailable() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        source = ManagementSource.connect(url, "u", SECRET, timeout_seconds=0.5)
        with pytest.raises(SourceUnavailable, match="timed out") as caught:
            source.read(VhostRequest("v", listing=True))
        source.close()
    assert SECRET not in str(caught.value)
