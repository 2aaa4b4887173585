"""PrometheusSource across nodes, at httpx's transport seam.

The live broker covers the happy path (tests/integration/test_prometheus_source.py).
Here: what a cluster does that one test node cannot on demand: one node of
three down or booting, an answer too large, a wrong port, counters that
reset, and which requests a poll makes.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from qscaler.core.model import VhostSnapshot
from qscaler.errors import SourceUnavailable
from qscaler.sources import VhostRequest
from qscaler.sources.prometheus import PrometheusSource, queue_filter
from qscaler.sources.prometheus_nodes import StaticNodes

A, B = "http://rabbit-a:15692", "http://rabbit-b:15692"


def exposition(node: str, version: str = "3.10.8", **queues: tuple[int, int, int, float]) -> str:
    """A node's answer: queue → (ready, unacked, consumers, published counter)."""
    lines = [
        f'rabbitmq_build_info{{rabbitmq_version="{version}"}} 1',
        f'rabbitmq_identity_info{{rabbitmq_node="{node}",rabbitmq_cluster="c"}} 1',
    ]
    for name, (ready, unacked, consumers, published) in queues.items():
        labels = f'vhost="v",queue="{name}"'
        lines += [
            f"rabbitmq_detailed_queue_messages_ready{{{labels}}} {ready}",
            f"rabbitmq_detailed_queue_messages_unacked{{{labels}}} {unacked}",
            f"rabbitmq_detailed_queue_consumers{{{labels}}} {consumers}",
            "rabbitmq_detailed_queue_messages_published_total"
            f'{{channel="<0.9.0>",queue_vhost="v",queue="{name}",exchange_vhost="v",exchange=""}} {published}',
        ]
    return "\n".join(lines) + "\n"


class Cluster:
    """Scripted node answers by host; records every request."""

    def __init__(self) -> None:
        self.answers: dict[str, Callable[[], httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.get(request.url.host)
        if answer is None:
            raise httpx.ConnectError("Connection refused", request=request)
        return answer()

    def serve(self, host: str, text: str, status: int = 200) -> None:
        self.answers[host] = lambda: httpx.Response(status, text=text)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def source(cluster: Cluster, clock: Clock, max_bytes: int = 2**20) -> PrometheusSource:
    client = httpx.Client(transport=httpx.MockTransport(cluster))
    return PrometheusSource(client, StaticNodes([A, B]), clock=clock, max_bytes=max_bytes)


def read(src: PrometheusSource, *names: str, listing: bool = False) -> VhostSnapshot:
    return src.read(VhostRequest("v", frozenset(names), listing=listing))


def test_queues_come_from_the_node_hosting_them_and_rates_from_counter_deltas() -> None:
    cluster, clock = Cluster(), Clock()
    cluster.serve("rabbit-a", exposition("rabbit@a", orders=(5, 1, 2, 100)))
    cluster.serve("rabbit-b", exposition("rabbit@b", audit=(7, 0, 1, 10)))
    src = source(cluster, clock)
    first = read(src, "orders", "audit")
    assert first.queues["orders"].messages_ready == 5
    assert first.queues["audit"].messages_ready == 7
    assert first.queues["orders"].publish_rate is None  # one scrape: no rate yet
    clock.now += 5
    cluster.serve("rabbit-a", exposition("rabbit@a", orders=(5, 1, 2, 150)))
    cluster.serve("rabbit-b", exposition("rabbit@b", audit=(7, 0, 1, 3)))  # counter reset
    second = read(src, "orders", "audit")
    assert second.queues["orders"].publish_rate == pytest.approx(10.0)  # 50 in 5 s
    assert second.queues["audit"].publish_rate == pytest.approx(0.6)  # 3 since the reset
    families = [v for k, v in cluster.requests[0].url.params.multi_items() if k == "family"]
    assert "queue_coarse_metrics" in families
    assert "queue_consumer_count" in families


def test_one_node_down_holds_only_what_it_may_host() -> None:
    cluster, clock = Cluster(), Clock()
    cluster.serve("rabbit-a", exposition("rabbit@a", orders=(5, 1, 2, 100)))
    cluster.serve("rabbit-b", "booting", status=503)
    snapshot = read(src := source(cluster, clock), "orders", "audit")
    assert snapshot.queues["orders"].messages_ready == 5  # still read: keeps scaling
    assert "audit" in snapshot.unreadable
    assert "audit" not in snapshot.missing
    assert "503" in snapshot.unreadable["audit"]
    assert snapshot.incomplete is not None  # re: bindings of the vhost hold
    clock.now += 5
    assert read(src, "orders").queues["orders"].publish_rate is None  # rates unknown meanwhile


def test_a_queue_no_node_reports_is_missing_when_every_node_answered() -> None:
    cluster, clock = Cluster(), Clock()
    cluster.serve("rabbit-a", exposition("rabbit@a", orders=(5, 1, 2, 100)))
    cluster.serve("rabbit-b", exposition("rabbit@b"))
    snapshot = read(source(cluster, clock), "orders", "gone")
    assert snapshot.missing == {"gone"}
    assert not snapshot.unreadable
    assert snapshot.incomplete is None


def test_no_node_answering_fails_the_vhost() -> None:
    with pytest.raises(SourceUnavailable, match="no RabbitMQ node"):
        read(source(Cluster(), Clock()), "orders")


@pytest.mark.parametrize(
    ("status", "text", "words"),
    [
        pytest.param(
            404, "Not Found", "rabbitmq_prometheus plugin enabled", id="plugin-off-or-wrong-port"
        ),
        pytest.param(
            200, "# HELP go_goroutines x\ngo_goroutines 8\n", "not a RabbitMQ", id="other-exporter"
        ),
        pytest.param(200, "x" * 5000, "over 4096 bytes", id="too-large"),
        pytest.param(401, "", "refused", id="auth"),
    ],
)
def test_a_bad_node_is_a_clear_error_for_that_node_only(status: int, text: str, words: str) -> None:
    cluster, clock = Cluster(), Clock()
    cluster.serve("rabbit-a", exposition("rabbit@a", orders=(5, 1, 2, 100)))
    cluster.serve("rabbit-b", text, status=status)
    snapshot = read(source(cluster, clock, max_bytes=4096), "orders", "audit")
    assert snapshot.queues["orders"].messages_ready == 5
    assert words in snapshot.unreadable["audit"]
    assert "\n" not in snapshot.unreadable["audit"]


def test_a_node_that_disappears_from_the_list_counts_as_failed() -> None:
    cluster, clock = Cluster(), Clock()
    cluster.serve("rabbit-a", exposition("rabbit@a", orders=(5, 1, 2, 100)))
    cluster.serve("rabbit-b", exposition("rabbit@b", audit=(7, 0, 1, 10)))
    urls = [A, B]
    client = httpx.Client(transport=httpx.MockTransport(cluster))
    finder = type("Finder", (), {"urls": lambda self: list(urls)})()
    src = PrometheusSource(client, finder, clock=clock)
    read(src, "audit")
    urls.remove(B)  # e.g. its pod left the headless Service's DNS
    clock.now += 5
    snapshot = read(src, "audit", listing=True)
    assert "audit" in snapshot.unreadable
    assert "no longer listed" in snapshot.unreadable["audit"]


def test_43_nodes_get_a_queue_filter_for_exact_names() -> None:
    cluster, clock = Cluster(), Clock()
    cluster.serve("rabbit-a", exposition("rabbit@a", "4.3.0", **{"a.b": (1, 0, 0, 0)}))
    cluster.serve("rabbit-b", exposition("rabbit@b", "4.0.5"))
    src = source(cluster, clock)
    read(src, "a.b")
    read(src, "a.b")
    last_a, last_b = cluster.requests[-2], cluster.requests[-1]
    assert last_a.url.params.get("queue") == queue_filter(frozenset({"a.b"})) == r"^(?:a\.b)$"
    assert "queue" not in last_b.url.params


def families(request: httpx.Request) -> list[str]:
    return [v for k, v in request.url.params.multi_items() if k == "family"]


def test_a_node_with_per_queue_counters_is_not_asked_for_per_channel_ones_again() -> None:
    """Per-channel families grow with channels; 4.0.5 has per-queue ones."""
    cluster, clock = Cluster(), Clock()
    marker = "# TYPE rabbitmq_detailed_queue_messages_acked_total counter\n"
    cluster.serve("rabbit-a", marker + exposition("rabbit@a", "4.0.5", orders=(1, 0, 0, 0)))
    cluster.serve("rabbit-b", exposition("rabbit@b", "3.10.8"))
    src = source(cluster, clock)
    read(src, "orders")
    first_a, first_b = cluster.requests[0], cluster.requests[1]
    assert "channel_queue_metrics" in families(first_a)
    assert "queue_delivery_metrics" in families(first_b)  # asked once, learned absent
    read(src, "orders")
    second_a, second_b = cluster.requests[2], cluster.requests[3]
    assert "channel_queue_metrics" not in families(second_a)
    assert "queue_delivery_metrics" in families(second_a)
    assert "queue_delivery_metrics" not in families(second_b)
    assert "channel_queue_metrics" in families(second_b)
