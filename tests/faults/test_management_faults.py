"""Broker faults 1-6 and 8: the management API misbehaves, qscaler holds.

Each test drives qscaler's real loop and ManagementSource against the real
RabbitMQ node through `HttpFaultProxy`, first until the workloads sit at the
replicas their backlog asks for, then with the fault injected, then with the
fault cleared. The assertions are the issue's three: no workload was scaled
down because of the fault, every workload the fault does not concern kept
scaling (a neighbour in a second vhost; for a broker-wide fault, the hold of
every workload), and the fault shows in metrics and Events. The workloads are
eager to scale down (rig.py), so a fault misread as an empty queue would fail
the first assertion in the very cycle it happened.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from qscaler.core.workload import Workload
from tests.faults.conftest import Reader
from tests.faults.rig import MakeRig, Rig, by_reason, consumer
from tests.harness.faultproxy import (
    Action,
    Answer,
    Delay,
    Hang,
    HttpFaultProxy,
    Rewrite,
    Rule,
    Truncate,
    both,
    in_vhost,
    page,
)
from tests.harness.rabbitmq import Broker

pytestmark = pytest.mark.rabbitmq


def warm(
    broker: Broker, make: MakeRig, vhost: str, vhost_b: str, *extra: Workload, timeout: float = 2.0
) -> Rig:
    """victim (vhost, 30 messages: 3 replicas) and neighbour (vhost_b, 20: 2), settled;
    read with a request `timeout` in seconds."""
    broker.declare_queues(vhost, "work")
    broker.declare_queues(vhost_b, "work")
    broker.publish(vhost, "work", 30)
    broker.publish(vhost_b, "work", 20)
    workloads = [consumer("victim", "work", vhost), consumer("neighbour", "work", vhost_b), *extra]
    rig = make(workloads, timeout=timeout)
    rig.until("victim at 3 and neighbour at 2", rig.at(victim=3, neighbour=2))
    return rig


def assert_victim_held(rig: Rig, replicas: int = 3) -> None:
    """The victim's decision is a SourceError hold at its current count."""
    victim = rig.history[-1]["victim"]
    assert victim.decision is not None, by_reason(rig.history[-1])
    assert victim.decision.reason.value == "SourceError", victim.decision.message
    assert (victim.decision.current, victim.decision.desired) == (replicas, replicas)
    assert rig.fleet.replicas("victim") == replicas


def neighbour_keeps_scaling(broker: Broker, rig: Rig, vhost_b: str) -> None:
    """20 more messages for the neighbour: it goes from 2 to 4 while the fault lasts."""
    broker.publish(vhost_b, "work", 20)
    rig.until("the neighbour scaled to 4 during the fault", rig.at(neighbour=4))
    assert_victim_held(rig)


def recovers(broker: Broker, rig: Rig, proxy: HttpFaultProxy, vhost: str) -> None:
    """Fault cleared: the victim decides on real data again (20 more: 5 replicas)."""
    broker.publish(vhost, "work", 20)
    proxy.clear()
    rig.until("the victim scaled to 5 after the fault", rig.at(victim=5))
    assert not rig.held("victim", "SourceError")


def fault_reported(rig: Rig, vhost: str, kind: str, words: str, local: bool = True) -> None:
    """The fault is in the source-error counter, the held-back gauge, the decision
    counter and a Warning Event whose message says what happened (and, when
    `local`, nowhere near the neighbour)."""
    assert rig.source_errors(vhost, kind) >= 1
    assert rig.held("victim", "SourceError")
    assert rig.decisions("victim", "SourceError") >= 1
    warnings = rig.fault_events("victim", "SourceError")
    assert warnings, rig.events.events
    assert {e.type for e in warnings} == {"Warning"}
    assert words in warnings[-1].message, warnings[-1].message
    if local:
        assert not rig.fault_events("neighbour", "SourceError")


# --- 1: connection refused -------------------------------------------------------------


def test_01_management_api_down_holds_every_workload_raises_fallbacks_and_resumes(
    broker: Broker, vhost: str, vhost_b: str, mgmt_proxy: HttpFaultProxy, mgmt_rig: MakeRig
) -> None:
    """Connection refused is broker-wide: every workload holds its count, a
    fallback-replicas above the count is applied after 3 failed polls in a row
    (never before), one below the count never lowers it, and scaling resumes
    when the API is back."""
    broker.declare_queues(vhost, "spare")
    broker.publish(vhost, "spare", 10)
    rig = warm(
        broker,
        mgmt_rig,
        vhost,
        vhost_b,
        consumer("fallback-up", "spare", vhost, replicas=1, fallback_replicas="6"),
        consumer("fallback-down", "work", vhost_b, fallback_replicas="0"),
    )
    rig.until("the fallback workloads at 1 and 2", rig.at(**{"fallback-up": 1, "fallback-down": 2}))
    rig.fault_starts()
    mgmt_proxy.refuse()
    for failed in (1, 2):
        outcomes = rig.cycle()
        assert set(by_reason(outcomes).values()) == {"SourceError"}, failed
        assert rig.fleet.replicas("fallback-up") == 1, "fallback before the 3rd failure"
    outcomes = rig.cycle()
    assert by_reason(outcomes) == {
        "victim": "SourceError",
        "neighbour": "SourceError",
        "fallback-up": "FallbackReplicas",
        "fallback-down": "SourceError",
    }
    assert rig.fleet.replicas("fallback-up") == 6
    assert rig.held("fallback-up", "FallbackReplicas")
    rig.cycle()  # at 6 now: holding there is a plain SourceError hold
    assert (rig.fleet.replicas("victim"), rig.fleet.replicas("neighbour")) == (3, 2)
    assert rig.fleet.replicas("fallback-down") == 2
    assert rig.fleet.replicas("fallback-up") == 6
    rig.assert_nothing_lowered()
    assert rig.source_errors(vhost, "unavailable") == 4
    assert rig.source_errors(vhost_b, "unavailable") == 4
    assert rig.held("fallback-up", "SourceError")
    assert rig.held("neighbour", "SourceError")
    fault_reported(rig, vhost, "unavailable", "cannot connect", local=False)
    assert "fallback-replicas 6" in rig.fault_events("fallback-up", "FallbackReplicas")[0].message

    mgmt_proxy.accept()
    recovers(broker, rig, mgmt_proxy, vhost)


# --- 2: 500 and 503 ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_02_server_errors_on_one_vhost_hold_its_workloads_only(
    broker: Broker,
    vhost: str,
    vhost_b: str,
    mgmt_proxy: HttpFaultProxy,
    mgmt_rig: MakeRig,
    status: int,
) -> None:
    """5xx for one vhost's requests: its workload holds (kind=unavailable), the
    neighbour in the other vhost keeps scaling."""
    rig = warm(broker, mgmt_rig, vhost, vhost_b)
    body = json.dumps({"error": "internal", "reason": "boom"}).encode()
    rig.fault_starts()
    mgmt_proxy.set(Rule(Answer(status, body), when=in_vhost(vhost)))
    neighbour_keeps_scaling(broker, rig, vhost_b)
    rig.assert_nothing_lowered()
    fault_reported(rig, vhost, "unavailable", f"HTTP {status}")
    assert rig.source_errors(vhost_b, "unavailable") == 0
    recovers(broker, rig, mgmt_proxy, vhost)


# --- 3 and 4: silence and slowness ------------------------------------------------------


def test_03_a_vhost_that_never_answers_times_out_and_the_cycle_completes(
    broker: Broker, vhost: str, vhost_b: str, mgmt_proxy: HttpFaultProxy, mgmt_rig: MakeRig
) -> None:
    """Requests for one vhost hang: each read ends at the 2 s request timeout, the
    cycle finishes, the victim holds and the neighbour keeps scaling."""
    rig = warm(broker, mgmt_rig, vhost, vhost_b)
    rig.fault_starts()
    mgmt_proxy.set(Rule(Hang(), when=in_vhost(vhost)))
    neighbour_keeps_scaling(broker, rig, vhost_b)
    rig.assert_nothing_lowered()
    fault_reported(rig, vhost, "unavailable", "timed out")
    recovers(broker, rig, mgmt_proxy, vhost)


def test_04_an_answer_just_under_the_timeout_is_used(
    broker: Broker, vhost: str, vhost_b: str, mgmt_proxy: HttpFaultProxy, mgmt_rig: MakeRig
) -> None:
    """2.5 s late with a 4 s timeout is slow, not broken: decisions go on as normal.
    (The 1.5 s to spare are for the proxy and the broker on a loaded machine.)"""
    rig = warm(broker, mgmt_rig, vhost, vhost_b, timeout=4.0)
    rig.fault_starts()
    mgmt_proxy.set(Rule(Delay(2.5)))
    broker.publish(vhost, "work", 20)
    rig.until("the victim scaled to 5 through the slow API", rig.at(victim=5))
    assert rig.source_errors(vhost, "unavailable") == 0
    assert not rig.fault_events("victim", "SourceError")
    assert mgmt_proxy.count(in_vhost(vhost)) >= 1


def test_04_an_answer_just_over_the_timeout_holds(
    broker: Broker, vhost: str, vhost_b: str, mgmt_proxy: HttpFaultProxy, mgmt_rig: MakeRig
) -> None:
    """2.8 s late with a 2 s timeout is a timeout: the vhost holds, the other scales."""
    rig = warm(broker, mgmt_rig, vhost, vhost_b)
    rig.fault_starts()
    mgmt_proxy.set(Rule(Delay(2.8), when=in_vhost(vhost)))
    neighbour_keeps_scaling(broker, rig, vhost_b)
    rig.assert_nothing_lowered()
    fault_reported(rig, vhost, "unavailable", "timed out")
    recovers(broker, rig, mgmt_proxy, vhost)


# --- 5: broken answers ------------------------------------------------------------------


def _negative(document: dict[str, object]) -> dict[str, object]:
    return {**document, "messages_ready": -5}


def _nan_rate(document: dict[str, object]) -> dict[str, object]:
    return {**document, "message_stats": {"publish_details": {"rate": float("nan")}}}


@pytest.mark.parametrize(
    ("action", "kind", "words"),
    [
        pytest.param(
            Answer(200, b'{"name": "work", "messages_ready": 1'),
            "data",
            "not valid JSON",
            id="invalid-json",
        ),
        pytest.param(Truncate(keep=20), "unavailable", "request failed", id="truncated-body"),
        pytest.param(
            Answer(200, b"<html>maintenance</html>", "text/html"),
            "data",
            "not valid JSON",
            id="html-page",
        ),
        pytest.param(Answer(200, b'{"error": "?"}'), "data", "name", id="wrong-shape"),
        pytest.param(Rewrite(_negative), "data", "messages_ready", id="negative-count"),
        pytest.param(Rewrite(_nan_rate), "data", "rate", id="nan-rate"),
    ],
)
def test_05_malformed_answers_hold_that_vhost(
    broker: Broker,
    vhost: str,
    vhost_b: str,
    mgmt_proxy: HttpFaultProxy,
    mgmt_rig: MakeRig,
    action: Action,
    kind: str,
    words: str,
) -> None:
    """An answer that is not the documented JSON (or not all of it) is never read
    as an empty queue: that vhost holds with kind=data (kind=unavailable when the
    connection was cut mid-body), the other vhost keeps scaling."""
    rig = warm(broker, mgmt_rig, vhost, vhost_b)
    rig.fault_starts()
    mgmt_proxy.set(Rule(action, when=in_vhost(vhost)))
    neighbour_keeps_scaling(broker, rig, vhost_b)
    rig.assert_nothing_lowered()
    fault_reported(rig, vhost, kind, words)
    recovers(broker, rig, mgmt_proxy, vhost)


# --- 6: a page missing from a listing ----------------------------------------------------

#: 1,100 queues: three pages of 500. Ten messages on each page.
PAGED = [f"q{i:04d}" for i in range(1100)]
LOADED = ("q0010", "q0700", "q1050")


@pytest.fixture(scope="module")
def paged_vhost(broker: Broker, reader: Reader) -> Iterator[str]:
    """A vhost with 1,100 queues (made once: declaring them takes seconds)."""
    name = f"qscaler-test-paged-{secrets.token_hex(3)}"
    broker.create_vhost(name)
    broker.grant(name, reader.name)
    broker.declare_queues(name, *PAGED)
    for queue in LOADED:
        broker.publish(name, queue, 10)
    yield name
    broker.delete_vhost(name)


def _items(keep: int) -> Callable[[Any], Any]:
    return lambda page_: {**page_, "items": page_["items"][:keep]}


def _one_page(page_: Any) -> Any:
    return {**page_, "page_count": 1}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("number", "action", "kind", "words"),
    [
        pytest.param(
            2, Answer(500, b'{"error": "boom"}'), "unavailable", "HTTP 500", id="page2-500"
        ),
        pytest.param(
            2, Answer(400, b'{"error": "bad_request"}'), "data", "HTTP 400", id="page2-400"
        ),
        pytest.param(
            2,
            Answer(400, b'{"error": "page_out_of_range", "reason": "Page out of range"}'),
            "unavailable",
            "changed while they were being listed",
            id="page2-out-of-range",
        ),
        pytest.param(2, Hang(), "unavailable", "timed out", id="page2-timeout"),
        pytest.param(2, Rewrite(_items(0)), "data", "item_count", id="page2-empty"),
        pytest.param(2, Rewrite(_items(250)), "data", "item_count", id="page2-short"),
        pytest.param(1, Rewrite(_one_page), "data", "page_count 1", id="page1-claims-one-page"),
    ],
)
def test_06_a_page_missing_from_a_listing_holds_the_pattern_workload(
    broker: Broker,
    paged_vhost: str,
    vhost: str,
    vhost_b: str,
    mgmt_proxy: HttpFaultProxy,
    mgmt_rig: MakeRig,
    number: int,
    action: Action,
    kind: str,
    words: str,
) -> None:
    """With QSCALER_MANAGEMENT_PAGE_SIZE=500, a `re:` binding over 1,100 queues
    is read in three pages. When one page fails, hangs, or comes back empty or
    short, the workload holds: a partial listing would sum a smaller backlog
    (20 instead of 30) and scale down. The neighbour in another vhost keeps
    scaling."""
    broker.declare_queues(vhost, "work")
    broker.publish(vhost, "work", 20)
    rig = mgmt_rig(
        [consumer("victim", r"re:^q\d{4}$", paged_vhost), consumer("neighbour", "work", vhost)],
        page_size=500,
    )
    rig.until("victim at 3 (all pages) and neighbour at 2", rig.at(victim=3, neighbour=2))
    pages = mgmt_proxy.count(both(in_vhost(paged_vhost), page(3)))
    assert pages >= 1, "the listing reads three pages"

    rig.fault_starts()
    mgmt_proxy.set(Rule(action, when=both(in_vhost(paged_vhost), page(number))))
    broker.publish(vhost, "work", 20)
    rig.until("the neighbour scaled to 4 during the fault", rig.at(neighbour=4))
    victim = rig.history[-1]["victim"]
    assert victim.reason == "SourceError", by_reason(rig.history[-1])
    assert rig.fleet.replicas("victim") == 3
    rig.assert_nothing_lowered()
    fault_reported(rig, paged_vhost, kind, words)

    mgmt_proxy.clear()
    rig.until("the victim decides on all pages again", lambda o: o["victim"].reason == "Steady")
    assert rig.fleet.replicas("victim") == 3


# --- 8: a bound queue deleted -----------------------------------------------------------


def test_08_a_deleted_queue_holds_its_workload_fallback_raises_and_neighbours_scale(
    broker: Broker, vhost: str, vhost_b: str, mgmt_rig: MakeRig
) -> None:
    """Deleting a bound queue is local to the workloads bound to it: they hold
    (QueueMissing), a fallback-replicas above the count applies after 3 polls in
    a row, a pattern that now matches nothing holds too and its fallback below
    the count never lowers it; a workload on another queue of the same vhost
    keeps scaling. Recreating the queue resumes normal decisions."""
    broker.declare_queues(vhost, "a", "b", "c1")
    for queue in ("a", "b", "c1"):
        broker.publish(vhost, queue, 30)
    rig = mgmt_rig(
        [
            consumer("exact", "a", vhost, fallback_replicas="6"),
            consumer("pattern", "re:^c", vhost, fallback_replicas="1"),
            consumer("neighbour", "b", vhost),
        ]
    )
    rig.until("all three at 3", rig.at(exact=3, pattern=3, neighbour=3))
    rig.fault_starts()
    # (the warm-up may have applied the fallback while the new queues were uncounted)
    fallbacks = rig.decisions("exact", "FallbackReplicas", direction="up")
    broker.delete_queues(vhost, "a", "c1")
    broker.publish(vhost, "b", 30)
    for _ in (1, 2):
        outcomes = rig.cycle()
        assert (outcomes["exact"].reason, outcomes["pattern"].reason) == (
            "QueueMissing",
            "QueueMissing",
        ), by_reason(outcomes)
    assert rig.held("exact", "QueueMissing")
    assert rig.held("pattern", "QueueMissing")
    outcomes = rig.cycle()
    assert by_reason(outcomes)["exact"] == "FallbackReplicas"
    assert rig.fleet.replicas("exact") == 6
    assert rig.held("exact", "FallbackReplicas")
    rig.until("the neighbour at 6", rig.at(neighbour=6))
    assert rig.fleet.replicas("pattern") == 3
    rig.assert_nothing_lowered()

    missing = rig.fault_events("exact", "QueueMissing")
    assert missing, rig.events.events
    assert f"queue not found in vhost {vhost!r}: a" in missing[0].message
    assert "no queue in vhost" in rig.fault_events("pattern", "QueueMissing")[0].message
    assert rig.held("exact", "QueueMissing"), "at 6 now: a plain QueueMissing hold"
    assert rig.decisions("exact", "FallbackReplicas", direction="up") == fallbacks + 1
    assert rig.source_errors(vhost, "unavailable") == 0, "a missing queue is not an outage"

    broker.declare_queues(vhost, "a")
    broker.publish(vhost, "a", 80)
    rig.until("the exact workload decides on its queue again", rig.at(exact=8))
    assert not rig.held("exact", "QueueMissing")


def test_08_the_only_bound_queue_of_a_vhost_deleted_is_queue_missing_not_an_auth_error(
    broker: Broker, vhost: str, vhost_b: str, mgmt_rig: MakeRig
) -> None:
    """When every bound name of a vhost is gone, the source checks that the vhost
    itself still exists. qscaler reads as a `monitoring` user (the documented
    least privilege), to whom `GET /api/vhosts/{vhost}` always answers 401: the
    check must use a request that user may make, or a deleted queue reads as
    kind=auth ("check the user/password") instead of QueueMissing."""
    rig = warm(broker, mgmt_rig, vhost, vhost_b)
    rig.fault_starts()
    broker.delete_queues(vhost, "work")
    broker.publish(vhost_b, "work", 20)
    rig.until("the neighbour scaled to 4", rig.at(neighbour=4))
    assert by_reason(rig.history[-1])["victim"] == "QueueMissing"
    assert rig.held("victim", "QueueMissing")
    assert rig.source_errors(vhost, "auth") == 0
    assert rig.fleet.replicas("victim") == 3
    rig.assert_nothing_lowered()
