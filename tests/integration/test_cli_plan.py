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


def run_cli(
    broker: Broker, *args: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QSCALER_")}
    env.update(
        QSCALER_MANAGEMENT_URL=broker.mgmt_url,
        QSCALER_USERNAME=broker.user,
        QSCALER_PASSWORD=password or broker.password,
    )
    return subprocess.run(
        [sys.executable, "-m", "qscaler", *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


def test_plan_exits_1_on_a_missing_queue_and_the_table_says_why(
    broker: Broker, example_queues: None, tmp_path: Path
) -> None:
    """A CI gate must not pass a binding to a queue that does not exist."""
    bindings = tmp_path / "b.yaml"
    bindings.write_text(
        "workloads:\n  - name: typo-consumer\n    annotations:\n"
        "      qscaler.io/queues: ordres\n      qscaler.io/messages-per-replica: '10'\n"
    )
    done = run_cli(broker, "plan", "--bindings", str(bindings))
    assert done.returncode == 1, done.stdout + done.stderr
    header, row = done.stdout.splitlines()
    assert header.split()[-2:] == ["REASON", "MESSAGE"]
    assert "QueueMissing" in row
    assert row.split()[2:4] == ["unknown", "unknown"]  # not "0": nothing was read
    assert "ordres" in row.split("QueueMissing", 1)[1]  # the message names the queue


def test_a_failed_read_shows_unknown_counts_not_zero(broker: Broker, example_queues: None) -> None:
    done = run_cli(broker, "plan", "--bindings", str(EXAMPLE), password="not-the-password")
    assert done.returncode == 1
    rows = done.stdout.splitlines()[1:]
    assert all(row.split()[2:4] == ["unknown", "unknown"] for row in rows), done.stdout
    document = json.loads(
        run_cli(broker, "plan", "--bindings", str(EXAMPLE), "--output", "json",
                password="not-the-password").stdout
    )  # fmt: skip
    assert {w["observation"]["messages_ready"] for w in document["workloads"]} == {None}


def test_explain_tells_one_workloads_story_with_the_arithmetic(
    broker: Broker, example_queues: None
) -> None:
    broker.publish("/", "orders", 250)
    poll_until(
        "the management API to count 250 messages",
        lambda: (broker.queue("/", "orders") or {}).get("messages"),
        lambda n: n == 250,
    )
    done = run_cli(broker, "explain", "orders-consumer", "-n", "apps", "--bindings", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    story = dict(line.split(":", 1) for line in done.stdout.splitlines())
    assert "100 messages per replica" in story["Binding"]
    assert "250 ready" in story["Observed"]
    assert "1 → 3 (ScaleUp)" in story["Decision"]
    assert "250" in story["Decision"]
    assert "100" in story["Decision"]
    assert story["Held back"].strip().startswith("DryRun: the write was planned and not made")
    assert story["Written"].strip() == "no: planned 3, held back"


def test_explain_an_unknown_workload_is_one_line_exit_2(
    broker: Broker, example_queues: None
) -> None:
    done = run_cli(broker, "explain", "nobody", "--bindings", str(EXAMPLE))
    assert done.returncode == 2
    assert done.stderr.strip() == "qscaler: no workload nobody is bound to qscaler"


def test_plan_reads_every_depth_with_management_statistics_off(broker_stats_off: Broker) -> None:
    """`management_agent.disable_metrics_collector = true` (the official image without
    -management): the listing has no counts, so the source reads the
    statistics-free listing. Classic and quorum depths, exactly; rates are gone."""
    node = broker_stats_off
    node.declare_queues("/", "orders", "invoices.us", "unrelated")
    node.declare_queues("/", "invoices.eu", queue_type="quorum")
    try:
        for queue, count in (("orders", 250), ("invoices.eu", 700), ("invoices.us", 400)):
            node.publish("/", queue, count)

        def rows() -> dict[str, dict[str, object]]:
            done = plan(node, "--output", "json")
            assert done.returncode in (0, 1), done.stderr
            return {w["workload"]: w["observation"] for w in json.loads(done.stdout)["workloads"]}

        # quorum counts reach this listing on the queue's own tick, seconds late
        found = poll_until(
            "plan to read both depths",
            rows,
            lambda r: (
                [r[w].get("messages_ready") for w in ("orders-consumer", "invoices-consumer")]
                == [250, 1100]
            ),
            timeout=60,
        )
        assert found["invoices-consumer"]["queues"] == 2
    finally:
        node.delete_queues("/", "orders", "invoices.eu", "invoices.us", "unrelated")
