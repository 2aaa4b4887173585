"""Hostile `/metrics/detailed` answers through the real Prometheus source and loop.

What answers on a node's Prometheus port can be anything: another exporter,
a proxy's error page, a cut or garbled exposition, duplicated series, NaN.
httpx's MockTransport serves hypothesis-made bodies to the real
PrometheusSource, feeding qscaler's real ControlLoop (tests/faults/rig.py). The
properties, as for the management API (tests/fuzz/test_management_fuzz.py):

* never a crash: every cycle completes and every workload gets a decision;
* never a scale-down on nonsense: a broken answer after a good one holds the
  count the good one gave (`SourceError`);
* a valid answer is read exactly: depths and consumers as written, and a
  valid answer in any label order prometheus-client's parser accepts reads
  the same through qscaler's fast path and its careful path.

Sizes come from QSCALER_HYPOTHESIS_EXAMPLES (a few hundred by default; CI sets
10,000).
"""

from __future__ import annotations

import os

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from qscaler.core.reasons import UNTRUSTED_DATA
from qscaler.sources.prometheus import PrometheusSource
from qscaler.sources.prometheus_nodes import StaticNodes
from qscaler.sources.prometheus_text import MAX_COUNT, parse_exposition
from tests.faults.rig import Rig, consumer

EXAMPLES = int(os.environ.get("QSCALER_HYPOTHESIS_EXAMPLES", "300"))
#: A cycle of the real loop per example costs ~20 ms here: at most 1,500 of those
#: per test (CI asks 10,000), about 30 s each; the parser-only test takes them all.
LOOP_EXAMPLES = min(EXAMPLES, 1500)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ_LOOP = settings(FUZZ, max_examples=LOOP_EXAMPLES)
HEAD = 'rabbitmq_identity_info{rabbitmq_node="rabbit@a",rabbitmq_cluster="c"} 1\n'
GAUGES = ("messages_ready", "messages_unacked", "consumers")


def exposition(ready: int, unacked: int, consumers: int, queue: str = "q") -> str:
    values = dict(zip(GAUGES, (ready, unacked, consumers), strict=True))
    lines = [
        f'rabbitmq_detailed_queue_{g}{{vhost="v",queue="{queue}"}} {values[g]}' for g in GAUGES
    ]
    return HEAD + "\n".join(lines) + "\n"


counts = st.integers(0, MAX_COUNT)
bad_values = st.sampled_from(
    ["NaN", "+Inf", "-Inf", "-1", "1.5", "1e300", "", "abc", "0x10", "1 x", "null"]
)


@st.composite
def broken(draw: st.DrawFn) -> str:
    """A valid answer with one thing broken in one of the ways a node or a proxy breaks it."""
    good = exposition(draw(counts), draw(counts), draw(counts))
    how = draw(st.sampled_from(["value", "cut", "duplicate", "garble", "identity", "bytes"]))
    lines = good.splitlines(keepends=True)
    line = draw(st.integers(1, len(lines) - 1))
    if how == "value":
        head, _, _ = lines[line].rstrip("\n").rpartition(" ")
        lines[line] = f"{head} {draw(bad_values)}\n"
    elif how == "cut":
        lines[line] = lines[line][: draw(st.integers(1, len(lines[line]) - 3))] + "\n"
    elif how == "duplicate":
        lines.insert(line, lines[line])
    elif how == "garble":
        text = lines[line]
        at = draw(st.integers(0, len(text) - 3))
        lines[line] = text[:at] + draw(st.sampled_from(["{", "}", '"', "\x00", ",,"])) + text[at:]
    elif how == "identity":
        lines = lines[1:]
    else:
        return draw(st.text(max_size=200))
    return "".join(lines)


class Scripted:
    """Serves each body once, in order (the last one again after that)."""

    def __init__(self, *bodies: str) -> None:
        self.bodies = list(bodies)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        text = self.bodies.pop(0) if len(self.bodies) > 1 else self.bodies[0]
        return httpx.Response(200, text=text)


def rig_for(handler: Scripted, **annotations: str) -> Rig:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    source = PrometheusSource(client, StaticNodes(["http://rabbit-0:15692"]))
    return Rig(source, [consumer("w", "q", "v", replicas=4, **annotations)])


policies = st.sampled_from([{}, {"target_drain_seconds": "60"}, {"count": "ready"}])


@FUZZ_LOOP
@given(ready=counts, unacked=counts, consumers=counts, bad=broken(), policy=policies)
def test_a_broken_answer_after_a_good_one_holds_the_count_the_good_one_gave(
    ready: int, unacked: int, consumers: int, bad: str, policy: dict[str, str]
) -> None:
    rig = rig_for(Scripted(exposition(ready, unacked, consumers), bad), **policy)
    first = rig.cycle()["w"]
    assert first.decision is not None, first.error
    previous = rig.fleet.replicas("w")
    rig.fault_starts()
    outcome = rig.cycle()["w"]
    assert outcome.decision is not None
    assert not (outcome.error or "").startswith("unexpected"), outcome.error
    if outcome.reason in UNTRUSTED_DATA:
        assert outcome.decision.desired == previous
        rig.assert_nothing_lowered()
    else:  # the damage happened to leave a valid answer (a cut that kept a line whole)
        assert outcome.observation is not None
        (queue,) = outcome.observation.queues
        assert 0 <= queue.messages_ready <= MAX_COUNT


@FUZZ_LOOP
@given(ready=counts, unacked=counts, consumers=counts, policy=policies)
def test_a_valid_answer_is_read_exactly(
    ready: int, unacked: int, consumers: int, policy: dict[str, str]
) -> None:
    rig = rig_for(Scripted(exposition(ready, unacked, consumers)), **policy)
    outcome = rig.cycle()["w"]
    assert outcome.observation is not None, outcome.error
    (queue,) = outcome.observation.queues
    assert (queue.messages_ready, queue.messages_unacknowledged, queue.consumers) == (
        ready,
        unacked,
        consumers,
    )
    assert outcome.reason not in UNTRUSTED_DATA


names = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    min_size=1,
    max_size=30,
)


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@FUZZ
@given(queue=names, ready=counts, swap=st.booleans())
def test_any_queue_name_reads_as_prometheus_client_reads_it(
    queue: str, ready: int, swap: bool
) -> None:
    """Escaped names, and labels in another order than RabbitMQ's: qscaler's
    parser agrees with prometheus-client's, sample for sample."""
    labels = [("vhost", "v"), ("queue", escape(queue))]
    if swap:
        labels.reverse()
    label_text = ",".join(f'{k}="{v}"' for k, v in labels)
    text = HEAD + f"rabbitmq_detailed_queue_messages_ready{{{label_text}}} {ready}\n"
    reference = [
        (s.labels["queue"], s.value)
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "rabbitmq_detailed_queue_messages_ready"
    ]
    parsed = parse_exposition(text, "v", "node")
    assert [(n, g.ready) for n, g in parsed.gauges.items()] == reference
