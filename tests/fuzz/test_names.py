"""Hostile queue and vhost names against the real broker, through the real loop.

Every printable character class RabbitMQ accepts, 255-byte names (the AMQP
short-string limit, in ASCII and in multi-byte UTF-8), percent signs that look
like escapes, slashes and dot segments: each name is bound by a workload's
annotations and read by both sources, and each workload must come out at
exactly the replicas its own queue's depth asks for (1 per message), so a name
mangled on the way (double-encoded, decoded, cut, confused with a neighbour)
shows as a wrong count. tests/integration covers a handful of odd names per
source; this is the exhaustive sweep.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from qscaler.core.workload import Workload
from qscaler.sources import QueueSource, VhostRequest
from qscaler.sources.amqp import AmqpSource
from qscaler.sources.management import ManagementSource
from tests.faults.rig import Rig, consumer
from tests.harness.rabbitmq import Broker, poll_until

pytestmark = pytest.mark.rabbitmq

#: One name per ASCII punctuation character (a comma separates names in the
#: annotation, so that one is only reachable by a pattern), then the classes.
PUNCTUATION = [f"p{i:02d}{c}x" for i, c in enumerate(string.punctuation)]
CLASSES = [
    "Latin-é-ß",
    "Ωμέγα",
    "очередь",
    "队列",
    "طابور",  # right to left
    "🐇-rabbit",  # 4-byte UTF-8
    "e\u0301-combining",
    "zero\u200dwidth",
    "nb\u00a0sp",
    "full\uff57idth",
    "in ner space",
    "%",
    "%2F",
    "%25",
    "100%done",
    "/",
    "//",
    "/lead",
    "trail/",
    "a/b/c",
    ".",
    "..",
    "x" * 255,
    "é" * 127 + "x",  # 255 bytes
    "🐇" * 63 + "xxx",  # 255 bytes
]
NAMES = PUNCTUATION + CLASSES
VHOSTS = ["a/b", "100%", "%2F", "sp ace", "ünï", "🐇", "#?&=+", "..x", "\\back", "v" * 255]


def bindable(name: str) -> str:
    """How a user binds `name`: itself, or a pattern where a comma is in the way."""
    return r"re:^p\d\d.x$" if "," in name else name


def workloads(names: list[str], vhost: str) -> list[Workload]:
    return [
        consumer(f"w{i}", bindable(name), vhost, messages_per_replica="1", max_replicas="100")
        for i, name in enumerate(names)
    ]


@pytest.fixture
def sources(broker: Broker) -> Iterator[dict[str, QueueSource]]:
    made: dict[str, QueueSource] = {
        "management": ManagementSource.connect(broker.mgmt_url, broker.user, broker.password),
        "amqp": AmqpSource(broker.amqp_url, broker.user, broker.password),
    }
    yield made
    for source in made.values():
        source.close()


def expected(names: list[str]) -> dict[str, int]:
    """w{i} has i+1 messages; the pattern workload sums every punctuation queue
    (and stops at max-replicas 100)."""
    counts = {f"w{i}": i + 1 for i in range(len(names))}
    comma = PUNCTUATION.index(next(n for n in PUNCTUATION if "," in n))
    counts[f"w{comma}"] = min(100, sum(range(1, len(PUNCTUATION) + 1)))
    return counts


def publish_and_settle(broker: Broker, vhost: str, names: list[str]) -> None:
    """Publish i+1 messages to the i-th name, and wait until the management
    listing shows every depth.

    Why wait: a cycle that reads a queue while its count is still arriving
    (one short, say) scales to that count, and the true count one cycle later
    is within the tolerance, so the count stays one short. That is the
    tolerance at work, not a mangled name; the names must meet settled counts.
    """
    for i, name in enumerate(names):
        broker.publish(vhost, name, i + 1)
    want = {name: i + 1 for i, name in enumerate(names)}

    def depths() -> dict[str, int]:
        listing = broker.api.get(
            f"/api/queues/{quote(vhost, safe='')}", params={"columns": "name,messages_ready"}
        )
        listing.raise_for_status()
        return {queue["name"]: queue.get("messages_ready") for queue in listing.json()}

    poll_until(
        "every queue's depth in the management listing",
        depths,
        done=lambda seen: all(seen.get(name) == count for name, count in want.items()),
        timeout=60,
    )


def test_queue_names_of_every_class_are_read_by_both_sources(
    broker: Broker, vhost: str, sources: dict[str, QueueSource]
) -> None:
    """Each name holds a different number of messages; each workload scales to
    exactly its own queue's depth, whichever source reads it."""
    broker.declare_queues(vhost, *NAMES)
    publish_and_settle(broker, vhost, NAMES)
    want = expected(NAMES)
    for kind, source in sources.items():
        bound = [
            w
            for w in workloads(NAMES, vhost)
            if kind == "management" or "re:" not in w.annotations["qscaler.io/queues"]
        ]
        rig = Rig(source, bound)
        at_depth = {w.ref.name: want[w.ref.name] for w in bound}
        rig.until(f"every workload at its depth through the {kind} source", rig.at(**at_depth))
        rig.assert_nothing_lowered()


def test_every_addressable_name_reads_alone_by_its_own_url(
    broker: Broker, vhost: str, sources: dict[str, QueueSource]
) -> None:
    """One bound name is one `GET /api/queues/{vhost}/{name}`: the name must
    survive percent-encoding as a single path segment (dot segments cannot, and
    are read from a listing instead)."""
    broker.declare_queues(vhost, *NAMES)
    publish_and_settle(broker, vhost, NAMES)
    management = sources["management"]
    assert isinstance(management, ManagementSource)
    want = expected(NAMES)
    rig = Rig(management, workloads(NAMES, vhost))
    rig.until(
        "every queue counted", lambda _: all(rig.fleet.replicas(w) == n for w, n in want.items())
    )
    for i, name in enumerate(NAMES):
        snapshot = management.read(VhostRequest(vhost, frozenset({name})))
        assert snapshot.queues[name].messages_ready == i + 1, name
        assert snapshot.missing == frozenset()


@pytest.mark.parametrize("name", VHOSTS, ids=lambda v: v[:12])
def test_vhost_names_of_every_class_are_read_by_both_sources(
    broker: Broker, sources: dict[str, QueueSource], name: str
) -> None:
    """A vhost name with slashes, percent signs, spaces, non-ASCII letters or 255
    bytes is one path segment to the management API and a virtual host to AMQP."""
    broker.create_vhost(name)
    try:
        broker.declare_queues(name, "q")
        broker.publish(name, "q", 7)
        for kind, source in sources.items():
            rig = Rig(source, [consumer("w", "q", name, messages_per_replica="1")])
            rig.until(f"7 replicas through the {kind} source", rig.at(w=7))
    finally:
        broker.delete_vhost(name)
