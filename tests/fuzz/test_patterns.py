"""Hostile `re:` patterns through the real loop against the real broker.

Patterns come from users' annotations. An invalid one is a binding error that
names the annotation (for that workload only); a catastrophic one (`(a|a)*`
against a long run of a's backtracks exponentially) must become an error for
its own workload within a bounded time, with the cycle completing and every
other workload decided. The budget covers all the vhost's names together: a
pattern that takes a little under the budget on each of many names is as
stalling as one that takes forever on one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import regex

from qscaler.core.select import PATTERN_BUDGET_SECONDS
from qscaler.sources.management import ManagementSource
from tests.faults.rig import Rig, by_reason, consumer
from tests.harness.rabbitmq import Broker

pytestmark = pytest.mark.rabbitmq

CATASTROPHIC = r"^(a|a)*$"


@pytest.fixture
def source(broker: Broker) -> Iterator[ManagementSource]:
    made = ManagementSource.connect(broker.mgmt_url, broker.user, broker.password)
    yield made
    made.close()


def test_an_invalid_pattern_is_a_binding_error_naming_the_annotation(
    broker: Broker, vhost: str, source: ManagementSource
) -> None:
    """`re:(` cannot compile: the workload gets an InvalidBinding Event and
    metric naming qscaler.io/queues, and its neighbour is read and scaled."""
    broker.declare_queues(vhost, "work")
    broker.publish(vhost, "work", 20)
    rig = Rig(source, [consumer("bad", "re:(", vhost), consumer("good", "work", vhost)])
    rig.until("good at 2", rig.at(good=2))
    outcome = rig.history[-1]["bad"]
    assert outcome.reason == "InvalidBinding"
    assert 'qscaler.io/queues "re:(" is not a valid regular expression' in (outcome.error or "")
    assert rig.workload_value("qscaler_binding_valid", "bad") == 0
    (event,) = {e.message for e in rig.events.of("bad", "InvalidBinding")}
    assert "qscaler.io/queues" in event
    assert rig.fleet.replicas("bad") == 0


def test_a_catastrophic_pattern_is_an_error_for_its_workload_only(
    broker: Broker, vhost: str, source: ManagementSource
) -> None:
    """`re:^(a|a)*$` against a 64-character run of a's would backtrack for
    centuries; it is stopped at the budget, its workload holds with an error
    that says to simplify the pattern, and the cycle decides the others."""
    broker.declare_queues(vhost, "a" * 64 + "b", "work")
    broker.publish(vhost, "work", 20)
    rig = Rig(
        source,
        [
            consumer("slow", f"re:{CATASTROPHIC}", vhost, replicas=2),
            consumer("good", "work", vhost),
        ],
    )
    rig.until("good at 2", rig.at(good=2))
    outcome = rig.history[-1]["slow"]
    assert outcome.reason == "SourceError", by_reason(rig.history[-1])
    assert outcome.decision is not None
    assert f"pattern re:{CATASTROPHIC} took over" in outcome.decision.message
    assert "simplify it" in outcome.decision.message
    assert rig.fleet.replicas("slow") == 2
    assert rig.held("slow", "SourceError")
    rig.assert_nothing_lowered()


#: Names of the vhost the slow pattern is tried against (each 1/10 to 1/5 of the budget).
NAMES = 200


def _slow_run() -> str:
    """A run of a's long enough that one search takes 1/10 to 1/5 of the budget
    on this machine (measured, so the test means the same on a fast one; each
    extra a doubles the time). NAMES such names add up to 20–40 budgets, a
    margin that holds when the machine is many times busier during the
    calibration than during the test (as when other tests run beside this
    one). The search stops at the budget, so the margin costs no time."""
    pattern = regex.compile(CATASTROPHIC)
    for length in range(10, 40):
        started = time.perf_counter()
        try:
            pattern.search("a" * length + "b00", timeout=PATTERN_BUDGET_SECONDS)
        except TimeoutError:
            break
        if time.perf_counter() - started >= PATTERN_BUDGET_SECONDS / 10:
            return "a" * length
    pytest.skip("no run of a's took between 1/10 of the budget and the budget")


def test_the_pattern_budget_covers_all_names_of_the_vhost_together(
    broker: Broker, vhost: str, source: ManagementSource
) -> None:
    """NAMES names that each take 1/10 to 1/5 of the budget (well under it, so
    a budget per name never trips) add up to many budgets: the pattern is
    stopped as too slow instead of stretching the cycle NAMES names long. (The
    budget used to apply to each name on its own.)"""
    run = _slow_run()
    names = [f"{run}b{i:03d}" for i in range(NAMES)]
    broker.declare_queues(vhost, *names, "work")
    broker.publish(vhost, "work", 20)
    rig = Rig(
        source, [consumer("slow", f"re:{CATASTROPHIC}", vhost), consumer("good", "work", vhost)]
    )
    rig.until("good at 2", rig.at(good=2))
    outcome = rig.history[-1]["slow"]
    assert outcome.decision is not None
    assert outcome.reason == "SourceError", by_reason(rig.history[-1])
    assert "took over" in outcome.decision.message
