"""`qscaler plan --bindings examples/bindings.yaml` against the real broker: the
README's promise that a plan can be read before anything is trusted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.rabbitmq import Broker, poll_until

pytestmark = pytest.mark.rabbitmq

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bindings.yaml"


@pytest.fixture
def example_queues(broker: Broker) -> Iterator[None]:
    broker.declare_queues("/", "orders", "invoices.eu", "invoices.us", "unrelated")
    yield
    broker.delete_queues("/", "orders", "invoices.eu", "invoices.us", "unrelated")


def plan(broker: Broker, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QSCALER_")}
    env.update(
        QSCALER_MANAGEMENT_URL=broker.mgmt_url,
        QSCALER_USERNAME=broker.user,
        QSCALER_PASSWORD=broker.password,
    )
    return subprocess.run(
        [sys.executable, "-m", "qscaler", "plan", "--bindings", str(EXAMPLE), *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


def test_plan_prints_the_decisions_for_known_queue_depths(
    broker: Broker, example_queues: None
) -> None:
    broker.publish("/", "orders", 250)
    broker.publish("/", "invoices.eu", 700)
    broker.publish("/", "invoices.us", 400)
    broker.publish("/", "unrelated", 999)
    poll_until(
        "the management API to count the messages",
        lambda: [
            (broker.queue("/", q) or {}).get("messages")
            for q in ("orders", "invoices.eu", "invoices.us")
        ],
        lambda counts: counts == [250, 700, 400],
    )
    done = plan(broker, "--output", "json")
    assert done.returncode == 0, done.stderr
    rows = {w["workload"]: w for w in json.loads(done.stdout)["workloads"]}
    orders, invoices = rows["orders-consumer"], rows["invoices-consumer"]
    assert orders["observation"]["messages_ready"] == 250
    assert orders["decision"]["desired"] == 3  # ceil(250 / 100)
    assert orders["decision"]["reason"] == "ScaleUp"
    assert invoices["observation"]["queues"] == 2  # the regex skips "unrelated"
    assert invoices["observation"]["messages_ready"] == 1100
    assert (
        invoices["decision"]["recommended"] == 3
    )  # ceil(1100 / 500): the floor, no rate known yet

    table = plan(broker)
    assert table.returncode == 0
    assert "apps/orders-consumer" in table.stdout
    assert "1 → 3" in table.stdout


def test_plan_exits_1_and_says_why_when_the_broker_refuses(
    broker: Broker, example_queues: None
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qscaler", "plan", "--bindings", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("QSCALER_")},
            "QSCALER_MANAGEMENT_URL": broker.mgmt_url,
            "QSCALER_USERNAME": broker.user,
            "QSCALER_PASSWORD": "not-the-password",
        },
    )
    assert done.returncode == 1
    assert "SourceError" in done.stdout
    assert "not-the-password" not in done.stdout + done.stderr
