"""Hostile management API answers through the real parser and the real loop.

The broker (or whatever answers in its place: a proxy, a captive portal, a
broker bug) can send anything. httpx's MockTransport serves hypothesis-made
bodies to the real ManagementSource, which feeds qscaler's real ControlLoop,
OutcomeRecorder and Metrics (tests/faults/rig.py). The properties:

* never a crash: every cycle completes and every workload gets a decision;
  nothing reaches the loop's "unexpected" safety net;
* never a scale-down on nonsense: a body that is not the documented JSON is a
  SourceDataError and the workload keeps the count the previous, trustworthy
  poll gave it;
* what is accepted is sane: counts are whole numbers from 0 to 2**53, rates
  finite and not negative, and a valid document is read exactly as written.

Sizes come from QSCALER_HYPOTHESIS_EXAMPLES (a few hundred by default; CI sets
10,000). The annotation fuzz lives in tests/unit/test_binding.py.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qscaler.core.reasons import UNTRUSTED_DATA
from qscaler.sources.management import ManagementSource
from qscaler.sources.management_json import MAX_COUNT
from tests.faults.rig import Rig, consumer

EXAMPLES = int(os.environ.get("QSCALER_HYPOTHESIS_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
COUNTS = ("messages_ready", "messages_unacknowledged", "consumers")
RATES = ("publish_details", "ack_details", "deliver_no_ack_details", "get_no_ack_details")

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
garbage = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
valid_rate = st.none() | st.floats(min_value=0, max_value=1e12) | st.integers(0, 10**9)


@st.composite
def valid_queue(draw: st.DrawFn, name: str = "q") -> dict[str, Any]:
    """A queue as RabbitMQ documents it (counted; rates optional)."""
    doc: dict[str, Any] = {c: draw(st.integers(0, MAX_COUNT)) for c in COUNTS}
    doc["name"] = name
    stats = {r: {"rate": draw(valid_rate)} for r in RATES if draw(st.booleans())}
    if stats:
        doc["message_stats"] = stats
    return doc


#: What a count must never be: negative, beyond 2**53, fractional, not a number.
bad_count = (
    st.integers(max_value=-1)
    | st.integers(min_value=MAX_COUNT + 1)
    | st.floats().filter(lambda f: not f.is_integer() or not math.isfinite(f))
    | st.booleans()
    | st.text(max_size=10)
    | st.lists(json_scalars, max_size=3)
    | st.dictionaries(st.text(max_size=5), json_scalars, max_size=3)
)
#: What a rate must never be (a negative rate is a counter reset: read as unknown).
bad_rate = (
    st.sampled_from([math.nan, math.inf, -math.inf])
    | st.booleans()
    | st.text(max_size=10)
    | st.lists(json_scalars, max_size=3)
    | st.dictionaries(st.text(max_size=5), json_scalars, max_size=3)
)


@st.composite
def poisoned_queue(draw: st.DrawFn) -> dict[str, Any]:
    """A valid queue with exactly one field broken (or the whole document replaced)."""
    doc = draw(valid_queue())
    where = draw(st.sampled_from([*COUNTS, "rate", "details", "stats", "name", "document"]))
    not_an_object = garbage.filter(lambda v: v is not None and not isinstance(v, dict))
    if where in COUNTS:
        doc[where] = draw(bad_count)
    elif where == "rate":
        doc.setdefault("message_stats", {})[draw(st.sampled_from(RATES))] = {"rate": draw(bad_rate)}
    elif where == "name":
        doc["name"] = draw(garbage.filter(lambda v: v != "q"))
    elif where == "details":
        doc.setdefault("message_stats", {})[draw(st.sampled_from(RATES))] = draw(not_an_object)
    elif where == "stats":
        doc["message_stats"] = draw(not_an_object)
    else:
        return {"__document__": draw(garbage.filter(lambda v: not isinstance(v, dict)))}
    return doc


def body(document: dict[str, Any]) -> bytes:
    """JSON as Python writes it: NaN and Infinity spelled as JSON5 does, which
    pydantic's parser accepts, so they reach the validation they must fail."""
    if "__document__" in document:
        return json.dumps(document["__document__"]).encode()
    return json.dumps(document).encode()


class Scripted:
    """Serves each body once, in order (the last one again after that)."""

    def __init__(self, *bodies: bytes) -> None:
        self.bodies = list(bodies)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        content = self.bodies.pop(0) if len(self.bodies) > 1 else self.bodies[0]
        return httpx.Response(200, content=content)


def rig_for(handler: Scripted, **annotations: str) -> Rig:
    client = httpx.Client(base_url="http://rabbit.example", transport=httpx.MockTransport(handler))
    return Rig(ManagementSource(client), [consumer("w", "q", "v", replicas=4, **annotations)])


def assert_sane(rig: Rig) -> None:
    outcome = rig.history[-1]["w"]
    assert outcome.decision is not None, outcome.error
    assert not (outcome.error or "").startswith("unexpected"), outcome.error
    assert outcome.observation is not None
    for queue in outcome.observation.queues:
        for count in (queue.messages_ready, queue.messages_unacknowledged, queue.consumers):
            assert isinstance(count, int)
            assert 0 <= count <= MAX_COUNT
        for rate in (queue.publish_rate, queue.ack_rate):
            assert rate is None or (math.isfinite(rate) and rate >= 0)


policies = st.sampled_from(
    [{}, {"target_drain_seconds": "60"}, {"count": "ready", "tolerance": "0"}]
)


@FUZZ
@given(good=valid_queue(), bad=poisoned_queue(), policy=policies)
def test_a_broken_answer_after_a_good_one_holds_the_count_the_good_one_gave(
    good: dict[str, Any], bad: dict[str, Any], policy: dict[str, str]
) -> None:
    """Poll 1 is valid and sets the count; poll 2 has one broken field: it is a
    SourceDataError (kind=data) and the count stays exactly where poll 1 put it."""
    rig = rig_for(Scripted(body(good), body(bad)), **policy)
    rig.cycle()
    assert_sane(rig)
    previous = rig.fleet.replicas("w")
    rig.fault_starts()
    outcome = rig.cycle()["w"]
    assert_sane(rig)
    assert outcome.decision is not None
    assert outcome.reason == "SourceError", (bad, outcome.decision.message)
    assert (outcome.decision.current, outcome.decision.desired) == (previous, previous)
    assert rig.source_errors("v", "data") == 1
    rig.assert_nothing_lowered()


@FUZZ
@given(document=valid_queue(), policy=policies)
def test_a_valid_answer_is_read_exactly_and_decided_without_error(
    document: dict[str, Any], policy: dict[str, str]
) -> None:
    """Huge but valid counts (up to 2**53) and rates (up to 10**12/s) are read as
    written and decided on; nothing overflows in smoothing or sizing."""
    rig = rig_for(Scripted(body(document)), **policy)
    outcome = rig.cycle()["w"]
    assert_sane(rig)
    assert outcome.observation is not None
    (queue,) = outcome.observation.queues
    assert queue.messages_ready == document["messages_ready"]
    assert queue.messages_unacknowledged == document["messages_unacknowledged"]
    assert queue.consumers == document["consumers"]
    assert outcome.reason not in UNTRUSTED_DATA


@FUZZ
@given(anything=garbage, policy=policies)
def test_any_json_at_all_is_either_a_valid_queue_or_a_hold(
    anything: Any, policy: dict[str, str]
) -> None:
    """Arbitrary JSON (scalars, lists, nested garbage) in place of the queue:
    the cycle completes, and unless the document happens to be a valid queue the
    workload holds its 4 replicas."""
    rig = rig_for(Scripted(json.dumps(anything).encode()), **policy)
    outcome = rig.cycle()["w"]
    assert_sane(rig)
    assert outcome.decision is not None
    if outcome.reason in UNTRUSTED_DATA:
        assert outcome.decision.desired >= outcome.decision.current == 4


@FUZZ
@given(raw=st.binary(max_size=200))
def test_any_bytes_at_all_are_a_hold(raw: bytes) -> None:
    """Bytes that are not JSON (or JSON that is not an object) never decide anything."""
    rig = rig_for(Scripted(raw))
    outcome = rig.cycle()["w"]
    assert_sane(rig)
    assert outcome.decision is not None
    if outcome.reason in UNTRUSTED_DATA:
        assert outcome.decision.desired == 4


def test_a_transport_that_raises_something_unexpected_fails_its_vhost_only() -> None:
    """An exception no source translates (a bug in a transport or a parser) is
    caught by the loop for that vhost alone: its workload holds, a workload on
    another vhost is decided, and the error is counted with kind=error."""

    def handler(request: httpx.Request) -> httpx.Response:
        if "/api/queues/broken/" in request.url.path:
            raise ZeroDivisionError("a bug")
        return httpx.Response(200, json={"name": "q", **dict.fromkeys(COUNTS, 30)})

    client = httpx.Client(base_url="http://rabbit.example", transport=httpx.MockTransport(handler))
    rig = Rig(
        ManagementSource(client),
        [consumer("w", "q", "broken", replicas=4), consumer("other", "q", "v")],
    )
    outcomes = rig.cycle()
    assert outcomes["w"].reason == "SourceError"
    assert outcomes["w"].decision is not None
    assert outcomes["w"].decision.desired == 4
    assert "unexpected ZeroDivisionError" in (outcomes["w"].decision.message or "")
    assert outcomes["other"].reason == "ScaleFromZero"
    assert rig.source_errors("broken", "error") == 1
